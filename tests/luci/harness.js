// tests/luci/harness.js: loads a view of luci-app-sipnat under node the way
// LuCI's loader does (the leading 'require NAME [as ALIAS]' strings become
// the parameters of a function whose body is the file), with small
// stand-ins for LuCI's classes, and prints what the view declared or
// rendered as tab-separated lines for tests/luci.rs to check.
//
//   node harness.js settings VIEW.js [CASES.tsv]
//   node harness.js status VIEW.js FIRST.json SECOND.json
//
// settings: runs render() and prints the form: `section`, `tab` and
//   `option` lines, and for every datatype the function names it uses
//   (`datatype` lines: parsed here with LuCI's grammar, NAME(ARG,...),
//   args numbers, quoted strings or datatypes). Each line of CASES.tsv,
//   `OPTION<TAB>VALUE<TAB>NAME=VALUE,...` (the other fields of the form),
//   runs that option's validate(); the answer is a `case` line.
// status: render() with the first answer, then one poll with the second,
//   printing the page each time (`h2`, `h3`, `alert`, `p`, and a `row` line
//   per table row with its cells). An answer file holding
//   {"reject": "message"} makes the ubus call fail with that message.
//
// The stand-ins are strict: a property LuCI's form classes do not have,
// or a module the view did not require, is an error, so a typo in a view
// fails here instead of in the browser.
'use strict';

const fs = require('fs');

function die(msg) {
	process.stderr.write(`harness.js: ${msg}\n`);
	process.exit(2);
}

// --- what LuCI provides globally ---------------------------------------
String.prototype.format = function (...args) {
	let i = 0;
	return this.replace(/%(%|(\.(\d+))?([sdfh]))/g, (all, pct, p, prec, conv) => {
		if (pct == '%')
			return '%';
		const a = args[i++];
		if (conv == 's')
			return String(a);
		if (conv == 'h')
			return String(a).replace(/&/g, '&#38;').replace(/</g, '&#60;').replace(/>/g, '&#62;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');
		if (conv == 'd')
			return String(Math.trunc(+a));
		return prec != null ? (+a).toFixed(+prec) : String(+a);
	});
};

function node(tag, attrs, children) {
	return { tag, attrs: attrs || {}, children: flat(children) };
}

function flat(c) {
	if (c == null)
		return [];
	if (!Array.isArray(c))
		c = [c];
	const out = [];
	for (const x of c) {
		if (Array.isArray(x))
			out.push(...flat(x));
		else if (x != null)
			out.push(typeof x == 'object' ? x : String(x));
	}
	return out;
}

// E(tag, [attrs], [children]) as LuCI's: a second argument that is a
// string, an array or a node is the children.
global.E = function (tag, a, c) {
	if (typeof a == 'string' || Array.isArray(a) || (a && a.tag))
		return node(tag, {}, a);
	return node(tag, a, c);
};
global._ = (s) => s;
global.N_ = (s) => s;

const L = {
	bind: (fn, self, ...a) => fn.bind(self, ...a),
	isObject: (o) => o != null && typeof o == 'object' && !Array.isArray(o),
	toArray: (x) => x == null ? [] : Array.isArray(x) ? x : [x],
	resolveDefault: (p, d) => Promise.resolve(p).catch(() => d)
};

// A stand-in that refuses properties outside `allowed`.
function strict(obj, allowed, what) {
	return new Proxy(obj, {
		set(t, k, v) {
			if (!allowed.includes(k))
				throw new Error(`${what} has no property '${String(k)}'`);
			t[k] = v;
			return true;
		},
		get(t, k) {
			if (k in t || typeof k == 'symbol' || k == 'then' || k == 'toJSON')
				return t[k];
			throw new Error(`${what} has no member '${String(k)}'`);
		}
	});
}

// --- form -------------------------------------------------------------------
const OPTION_PROPS = ['datatype', 'validate', 'default', 'rmempty', 'optional', 'placeholder',
	'password', 'modalonly', 'editable', 'nocreate', 'noaliases', 'nobridges', 'noinactive',
	'multiple', 'readonly', 'description', 'title', 'size', 'cast', 'retain', 'width',
	'enabled', 'disabled', 'widget', 'exclude', 'novirtual', 'cfgvalue', 'write', 'remove',
	'textvalue', 'ucioption', 'onchange'];
const SECTION_PROPS = ['addremove', 'anonymous', 'nodescriptions', 'addbtntitle', 'sortable',
	'modaltitle', 'sectiontitle', 'max_cols', 'extedit', 'cloneable', 'filter', 'rowcolors',
	'uciconfig', 'description', 'title', 'handleAdd'];

function optionClass(name) {
	const C = function () {};
	C.className = name;
	return C;
}
const form = {};
for (const c of ['Value', 'Flag', 'ListValue', 'DynamicList', 'MultiValue', 'TextValue',
	'DummyValue', 'HiddenValue', 'ButtonValue', 'RichListValue', 'FileUpload', 'SectionValue'])
	form[c] = optionClass(c);
for (const c of ['TypedSection', 'GridSection', 'TableSection', 'NamedSection'])
	form[c] = optionClass(c);

const declared = { map: null, sections: [] };

form.Map = function (config, title, description) {
	declared.map = { config, title, description };
	this.section = (cls, type, title) => {
		if (!cls || !cls.className || !form[cls.className])
			throw new Error('m.section() with an unknown class');
		const s = { cls: cls.className, type, title, tabs: [], options: [] };
		declared.sections.push(s);
		const add = (tab, ocls, name, otitle, odescr) => {
			if (!ocls || !ocls.className)
				throw new Error(`option ${name}: unknown class`);
			if (tab != null && !s.tabs.some(t => t.name == tab))
				throw new Error(`option ${name}: tab '${tab}' was not declared first`);
			const o = { cls: ocls.className, name, tab, title: otitle, descr: odescr, deps: [], values: [] };
			o.depends = (f, v) => o.deps.push(typeof f == 'string' ? { [f]: v } : f);
			o.value = (k, v) => o.values.push([k, v]);
			o.section = sectionProxy;
			s.options.push(o);
			return strict(o, OPTION_PROPS, `option ${name}`);
		};
		const api = {
			tab: (name, title) => {
				if (s.tabs.some(t => t.name == name))
					throw new Error(`tab ${name} declared twice`);
				s.tabs.push({ name, title });
			},
			taboption: (tab, ...a) => add(tab, ...a),
			option: (...a) => add(null, ...a)
		};
		const sectionProxy = strict(Object.assign(s, api), SECTION_PROPS, `section ${type}`);
		return sectionProxy;
	};
	this.render = () => Promise.resolve({ tag: 'map' });
};

// --- the loader -------------------------------------------------------------
function load(file, modules) {
	const src = fs.readFileSync(file, 'utf8');
	const names = [], values = [];
	const re = /^\s*(?:\/\/[^\n]*\n\s*)*(['"])([^'"\n]*)\1;?/;
	let rest = src;
	for (;;) {
		const m = re.exec(rest);
		if (!m)
			break;
		rest = rest.slice(m[0].length);
		if (m[2] == 'use strict')
			continue;
		const r = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/.exec(m[2]);
		if (!r)
			break;
		if (!(r[1] in modules))
			die(`${file} requires '${r[1]}', which this harness does not stand in for`);
		names.push(r[2] || r[1].replace(/[^a-zA-Z0-9_]/g, '_'));
		values.push(modules[r[1]]);
	}
	const factory = new Function('window', 'document', 'L', ...names, src);
	return factory({}, {}, L, ...values);
}

const view = { extend: (proto) => proto };

// --- datatypes: LuCI's grammar, our own parser ----------------------------
function parseDatatype(code) {
	const names = [];
	let i = 0;
	const ws = () => { while (code[i] == ' ' || code[i] == '\t') i++; };
	function expr() {
		ws();
		if (code[i] == '"' || code[i] == "'") {
			const q = code[i++];
			while (i < code.length && code[i] != q) i++;
			if (code[i++] != q) throw new Error('unterminated string');
			return;
		}
		const m = /^-?[0-9]+(\.[0-9]+)?/.exec(code.slice(i));
		if (m) { i += m[0].length; return; }
		const n = /^[A-Za-z_][A-Za-z0-9_]*/.exec(code.slice(i));
		if (!n) throw new Error(`unexpected '${code.slice(i)}'`);
		names.push(n[0]);
		i += n[0].length;
		ws();
		if (code[i] == '(') {
			i++;
			ws();
			if (code[i] != ')') {
				for (;;) {
					expr();
					ws();
					if (code[i] == ',') { i++; continue; }
					break;
				}
			}
			if (code[i++] != ')') throw new Error('missing )');
		}
	}
	expr();
	ws();
	if (i != code.length) throw new Error(`trailing '${code.slice(i)}'`);
	return names;
}

// --- text of a rendered page ----------------------------------------------
function text(n) {
	if (typeof n == 'string')
		return n;
	return n.children.map(text).filter(t => t !== '').join(' ').replace(/\s+/g, ' ').trim();
}

function dump(n, out) {
	if (typeof n == 'string') {
		if (n.trim() !== '') out.push(`text\t${n.trim()}`);
		return;
	}
	const cls = String(n.attrs['class'] || '');
	if (n.tag == 'tr')
		out.push(['row'].concat(n.children.map(text)).join('\t'));
	else if (/^h[1-6]$/.test(n.tag))
		out.push(`${n.tag}\t${text(n)}`);
	else if (/\balert-message\b/.test(cls))
		out.push(`alert\t${text(n)}`);
	else if (n.tag == 'p' || /\bcbi-map-descr\b/.test(cls))
		out.push(`p\t${text(n)}`);
	else {
		if (n.tag == 'table') out.push('table');
		n.children.forEach(c => dump(c, out));
	}
}

// --- modes ------------------------------------------------------------------
async function settings(file, casesFile) {
	const widgets = { NetworkSelect: optionClass('NetworkSelect'), DeviceSelect: optionClass('DeviceSelect'),
		ZoneSelect: optionClass('ZoneSelect'), UserSelect: optionClass('UserSelect') };
	// A configuration as uci.sections() gives it: named, unnamed, named.
	const sections = [ { '.name': 'general', '.anonymous': false }, { '.name': 'cfg0a1b2c', '.anonymous': true },
		{ '.name': 'office', '.anonymous': false }, { '.name': 'cfg0d4e5f', '.anonymous': true } ];
	const uci = {
		sections: (conf, type) => conf == 'sipnat' && type == 'sipnat' ? sections : [],
		get: (conf, sid, opt) => { const x = sections.find(s => s['.name'] == sid); return opt ? x && x[opt] : x; }
	};
	const v = load(file, { view, form, uci, 'tools.widgets': widgets });
	await v.render();
	const out = [`map\t${declared.map.config}`];
	for (const s of declared.sections) {
		out.push(`section\t${s.cls}\t${s.type}\taddremove=${!!s.addremove}\tanonymous=${!!s.anonymous}`);
		for (const t of s.tabs)
			out.push(`tab\t${t.name}\t${t.title}`);
		if (typeof s.sectiontitle == 'function')
			for (const x of sections)
				out.push(`title\t${x['.name']}\t${s.sectiontitle.call(s, x['.name'])}`);
		for (const o of s.options) {
			out.push(['option', o.name, o.cls, o.tab || '-', o.datatype || '-',
				typeof o.validate == 'function' ? 'validate' : '-', o.password ? 'password' : '-',
				JSON.stringify(o.deps), o.values.map(x => x[0]).join(',') || '-',
				o.title || '', o.descr || '', o.rmempty === false ? 'keep' : '-'].join('\t'));
			if (typeof o.textvalue == 'function') {
				// the grid's text of the option, unset and set
				const at = v => { o.cfgvalue = () => v; return text(o.textvalue.call(o, 'cfg01')); };
				out.push(`grid\t${o.name}\t${at(undefined)}\t${at("7000")}`);
			}
			if (o.datatype) {
				let r;
				try { r = 'ok\t' + parseDatatype(o.datatype).join(','); }
				catch (e) { r = 'error\t' + e.message; }
				out.push(`datatype\t${o.name}\t${r}`);
			}
		}
	}
	if (casesFile) {
		const lines = fs.readFileSync(casesFile, 'utf8').split('\n').filter(l => l !== '');
		lines.forEach((l, i) => {
			const [name, value, others] = l.split('\t');
			const o = declared.sections.flatMap(s => s.options).find(x => x.name == name);
			if (!o || typeof o.validate != 'function')
				die(`case ${i + 1}: option ${name} has no validate()`);
			const fields = {};
			for (const kv of (others || '').split(',').filter(x => x))
				fields[kv.split('=')[0]] = kv.split('=')[1];
			fields[name] = value;
			o.section = { formvalue: (sid, opt) => fields[opt] };
			const r = o.validate.call(o, 'cfg01', value);
			out.push(`case\t${i + 1}\t${r === true ? 'ok' : String(r)}`);
		});
	}
	process.stdout.write(out.join('\n') + '\n');
}

async function status(file, first, second) {
	const answers = [first, second].map(f => JSON.parse(fs.readFileSync(f, 'utf8')));
	const calls = [], polls = [];
	const rpc = {
		declare(opts) {
			calls.push(opts);
			return () => {
				const a = answers.shift();
				if (a === undefined)
					die('more ubus calls than answers');
				return a && a.reject != null ? Promise.reject(new Error(a.reject)) : Promise.resolve(a);
			};
		}
	};
	const poll = { add: (fn, interval) => polls.push({ fn, interval }) };
	const dom = { content: (n, c) => { n.children = flat(c); return n; } };
	const v = load(file, { view, rpc, poll, dom });
	const out = [];
	for (const c of calls)
		out.push(`rpc\t${c.object}\t${c.method}\treject=${!!c.reject}`);
	const page = v.render(await v.load());
	for (const p of polls)
		out.push(`poll\t${p.interval}`);
	out.push('page');
	dump(page, out);
	if (polls.length != 1)
		die(`expected one poll function, got ${polls.length}`);
	await polls[0].fn();
	out.push('after-poll');
	dump(page, out);
	for (const k of ['handleSave', 'handleSaveApply', 'handleReset'])
		out.push(`${k}\t${v[k] === null ? 'null' : typeof v[k]}`);
	process.stdout.write(out.join('\n') + '\n');
}

const [mode, ...args] = process.argv.slice(2);
(mode == 'settings' ? settings(args[0], args[1])
	: mode == 'status' ? status(args[0], args[1], args[2])
		: Promise.reject(new Error('usage: harness.js settings|status ...')))
	.catch(e => die(e && e.stack || String(e)));
