#!/usr/bin/env node
// gen-pot.js: writes po/templates/sipnat.pot, the translation template of
// luci-app-sipnat, from the strings the app shows:
//   - every _('...') of the views (htdocs/**/*.js); a second literal
//     argument is the context (msgctxt), as LuCI's _() takes it;
//   - the "title" values of the menu (root/usr/share/luci/menu.d/*.json)
//     and the "description" values of the ACL (root/usr/share/rpcd/acl.d/),
//     which LuCI translates too.
// Entries are sorted by context and text, each with the places it is
// used (#: file:line). A _( whose argument is not a plain string literal
// is an error (it could not be translated), so nothing slips past.
//
//   node gen-pot.js           rewrite po/templates/sipnat.pot
//   node gen-pot.js --check   exit 1 if that file is not up to date
//   node gen-pot.js --stdout  print the template
//
// Translators: copy po/templates/sipnat.pot to po/<lang>/sipnat.po and
// fill in the msgstr lines (LuCI's language codes: de, fr, pt_BR, zh_Hans...).
'use strict';

const fs = require('fs');
const path = require('path');

const APP = __dirname;
const POT = path.join(APP, 'po', 'templates', 'sipnat.pot');

function files(dir, test) {
	const out = [];
	if (!fs.existsSync(dir))
		return out;
	for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, e.name);
		if (e.isDirectory())
			out.push(...files(p, test));
		else if (test(p))
			out.push(p);
	}
	return out.sort();
}

function fail(file, line, why) {
	process.stderr.write(`gen-pot.js: ${path.relative(APP, file)}:${line}: ${why}\n`);
	process.exit(2);
}

// Reads a JS string literal starting at src[i] (a quote); returns
// [value, index after the closing quote].
function literal(src, i, file, line) {
	const q = src[i];
	if (q != "'" && q != '"')
		fail(file, line, 'the argument of _() is not a string literal');
	let v = '';
	for (i++; i < src.length; i++) {
		const c = src[i];
		if (c == q)
			return [v, i + 1];
		if (c == '\n')
			fail(file, line, 'unterminated string');
		if (c != '\\') {
			v += c;
			continue;
		}
		const n = src[++i];
		const simple = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0' };
		if (n in simple)
			v += simple[n];
		else if (n == 'x')
			v += String.fromCharCode(parseInt(src.substr(i + 1, 2), 16)), i += 2;
		else if (n == 'u')
			v += String.fromCharCode(parseInt(src.substr(i + 1, 4), 16)), i += 4;
		else
			v += n;
	}
	fail(file, line, 'unterminated string');
}

const entries = new Map();

function add(msgid, ctx, file, line) {
	const key = (ctx || '') + '\u0004' + msgid;
	if (!entries.has(key))
		entries.set(key, { msgid, ctx, refs: [] });
	entries.get(key).refs.push(`${path.relative(APP, file)}:${line}`);
}

function lineAt(src, i) {
	return src.slice(0, i).split('\n').length;
}

for (const file of files(path.join(APP, 'htdocs'), p => p.endsWith('.js'))) {
	const src = fs.readFileSync(file, 'utf8');
	const re = /(^|[^A-Za-z0-9_$.])_\(/g;
	let m;
	while ((m = re.exec(src)) !== null) {
		const at = m.index + m[1].length;
		const line = lineAt(src, at);
		let i = at + 2;
		while (/\s/.test(src[i])) i++;
		const [msgid, after] = literal(src, i, file, line);
		i = after;
		while (/\s/.test(src[i])) i++;
		let ctx = null;
		if (src[i] == ',') {
			i++;
			while (/\s/.test(src[i])) i++;
			[ctx, i] = literal(src, i, file, line);
			while (/\s/.test(src[i])) i++;
		}
		if (src[i] != ')')
			fail(file, line, '_() takes one string literal (and a context literal), nothing else');
		add(msgid, ctx, file, line);
		re.lastIndex = i;
	}
}

const jsonFiles = files(path.join(APP, 'root', 'usr', 'share', 'luci', 'menu.d'), p => p.endsWith('.json'))
	.concat(files(path.join(APP, 'root', 'usr', 'share', 'rpcd', 'acl.d'), p => p.endsWith('.json')));
for (const file of jsonFiles) {
	const src = fs.readFileSync(file, 'utf8');
	JSON.parse(src); // a broken file fails here
	const re = /"(title|description)"\s*:\s*("(?:[^"\\]|\\.)*")/g;
	let m;
	while ((m = re.exec(src)) !== null)
		add(JSON.parse(m[2]), null, file, lineAt(src, m.index));
}

function po(s) {
	return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
		.replace(/\t/g, '\\t').replace(/\r/g, '\\r') + '"';
}

let out = 'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8"\n';
const sorted = [...entries.values()].sort((a, b) =>
	a.msgid < b.msgid ? -1 : a.msgid > b.msgid ? 1 :
		(a.ctx || '') < (b.ctx || '') ? -1 : (a.ctx || '') > (b.ctx || '') ? 1 : 0);
for (const e of sorted) {
	out += '\n#: ' + e.refs.join(' ') + '\n';
	if (e.ctx != null)
		out += 'msgctxt ' + po(e.ctx) + '\n';
	out += 'msgid ' + po(e.msgid) + '\nmsgstr ""\n';
}

const mode = process.argv[2] || '';
if (mode == '--stdout') {
	process.stdout.write(out);
} else if (mode == '--check') {
	const have = fs.existsSync(POT) ? fs.readFileSync(POT, 'utf8') : '';
	if (have != out) {
		process.stderr.write('gen-pot.js: po/templates/sipnat.pot is out of date; run: node openwrt/luci-app-sipnat/gen-pot.js\n');
		process.exit(1);
	}
	process.stdout.write(`po/templates/sipnat.pot is up to date (${sorted.length} strings)\n`);
} else if (mode == '') {
	fs.mkdirSync(path.dirname(POT), { recursive: true });
	fs.writeFileSync(POT, out);
	process.stdout.write(`wrote po/templates/sipnat.pot (${sorted.length} strings)\n`);
} else {
	process.stderr.write('usage: node gen-pot.js [--check | --stdout]\n');
	process.exit(2);
}
