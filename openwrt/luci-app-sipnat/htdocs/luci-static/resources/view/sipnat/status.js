'use strict';
'require view';
'require dom';
'require poll';
'require rpc';

// Live status of every running sipnat instance, from the ubus object
// `sipnat` (rpcd plugin /usr/libexec/rpcd/sipnat, which runs
// `sipnat status --json`). Refreshed every 5 seconds without reloading
// the page. The JSON is schema 1 of sipnat's status interface. A failed
// ubus call (no such object, no permission) is shown as such, not as
// "not running" (reject: true turns a ubus status code into an error).

const callStatus = rpc.declare({
	object: 'sipnat',
	method: 'status',
	expect: { '': {} },
	reject: true
});

// "1h 02m 03s", "4m 05s", "42s"; nothing for a missing number.
function duration(secs) {
	if (typeof secs != 'number' || !isFinite(secs) || secs < 0)
		return '-';
	secs = Math.floor(secs);
	const d = Math.floor(secs / 86400), h = Math.floor(secs / 3600) % 24,
		m = Math.floor(secs / 60) % 60, s = secs % 60;
	const two = n => (n < 10 ? '0' : '') + n;
	if (d > 0)
		return '%dd %dh %sm'.format(d, h, two(m));
	if (h > 0)
		return '%dh %sm %ss'.format(h, two(m), two(s));
	if (m > 0)
		return '%dm %ss'.format(m, two(s));
	return '%ds'.format(s);
}

function bytes(n) {
	if (typeof n != 'number')
		return '-';
	const units = [ 'B', 'KiB', 'MiB', 'GiB', 'TiB' ];
	let i = 0;
	while (n >= 1024 && i < units.length - 1) {
		n /= 1024;
		i++;
	}
	return i == 0 ? '%d B'.format(n) : '%.1f %s'.format(n, units[i]);
}

function text(v) {
	return (v == null || v === '') ? '-' : String(v);
}

function yesno(v) {
	return v ? _('yes') : _('no');
}

function used(count, capacity) {
	return '%s / %s'.format(text(count), text(capacity));
}

// A table with a title row; `rows` are arrays of cells (text or nodes).
function table(titles, rows, empty) {
	const head = E('tr', { 'class': 'tr table-titles' },
		titles.map(t => E('th', { 'class': 'th' }, t)));
	const body = rows.length ? rows.map(r => E('tr', { 'class': 'tr' },
		r.map((c, i) => E('td', { 'class': 'td', 'data-title': titles[i] }, c))))
		: [ E('tr', { 'class': 'tr placeholder' }, [
			E('td', { 'class': 'td' }, E('em', {}, empty)) ]) ];
	return E('table', { 'class': 'table' }, [ head ].concat(body));
}

// A two-column table of name and value.
function facts(pairs) {
	return E('table', { 'class': 'table' }, pairs.map(p => E('tr', { 'class': 'tr' }, [
		E('td', { 'class': 'td left', 'width': '33%' }, p[0]),
		E('td', { 'class': 'td left' }, p[1])
	])));
}

function section(title, content) {
	return E('div', { 'class': 'cbi-section' }, [ E('h4', {}, title), content ]);
}

function summary(st) {
	const c = st.config || {};
	const relay = st.relay || {};
	const lan = (c.if_inbound ? c.if_inbound + ': ' : '') +
		(Array.isArray(c.lan_addresses) && c.lan_addresses.length ? c.lan_addresses.join(', ') : '-');
	const wan = (c.if_outbound ? c.if_outbound + ': ' : '') + text(c.wan_address) +
		(c.wan_address6 ? ', ' + c.wan_address6 : '');
	const pub = text(c.public_address != null ? c.public_address : c.host_outbound) +
		(c.public_address6 ? ', ' + c.public_address6 : '');
	const rows = [
		[ _('Version'), text(st.version) ],
		[ _('Process id'), text(st.pid) ],
		[ _('Running for'), duration(st.uptime) ],
		[ _('LAN'), lan ],
		[ _('WAN'), wan ],
		[ _('Public address announced'), pub ],
		[ _('SIP port'), text(c.sip_listen_port) ],
		[ _('Outbound proxy'), text(c.outbound_proxy) ],
		[ _('Authentication realm'), c.proxy_auth_realm ? c.proxy_auth_realm : _('none: phones do not log in') ],
		[ _('Registrations'), used(st.registrations && st.registrations.count, st.registrations && st.registrations.capacity) ],
		[ _('Calls'), used(st.calls && st.calls.count, st.calls && st.calls.capacity) ],
		[ _('RTP relay'), c.rtp_proxy_enable
			? _('ports %s-%s, %s streams in use, %s port pairs bound').format(text(c.rtp_port_low), text(c.rtp_port_high), used(relay.streams, relay.capacity), text(relay.bound))
			: _('off') ],
		[ _('Kernel forwarding'), kernel(relay.kernel) ],
		[ _('TCP connections'), used(st.tcp && st.tcp.connections, st.tcp && st.tcp.capacity) ]
	];
	if (st.blacklist)
		rows.push([ _('Blocked clients'), used(st.blacklist.entries, st.blacklist.capacity) ]);
	rows.push([ _('Runs as'), text(c.user) ]);
	return facts(rows);
}

// The kernel forwarding: on with the channels it carries now, or off and why.
function kernel(k) {
	if (!k)
		return text(null);
	return k.on
		? _('on, %s RTP/RTCP flows in the kernel now').format(text(k.channels))
		: _('off (%s)').format(text(k.off_because));
}

function registrations(st) {
	const list = (st.registrations && Array.isArray(st.registrations.list)) ? st.registrations.list : [];
	return table([ _('Address of record'), _('Contact'), _('Phone'), _('Transport'), _('Registrar'), _('Expires in'), _('Confirmed') ],
		list.map(r => [
			text(r.aor), text(r.contact), text(r.address),
			text(r.transport).toUpperCase(),
			r.registrar == 'local' ? _('sipnat') : _('provider'),
			duration(r.expires), yesno(r.confirmed)
		]), _('No phone is registered.'));
}

function side(s) {
	return s == 'lan' ? _('LAN') : s == 'wan' ? _('WAN') : text(s);
}

// One relay stream: its port, then each leg (what was received from that
// side and forwarded to the other).
function streams(call) {
	const list = Array.isArray(call.streams) ? call.streams : [];
	if (!list.length)
		return E('em', {}, _('no media relayed'));
	return E('div', {}, list.map(st => E('div', {}, [
		E('strong', {}, st.kernel ? _('RTP port %s (forwarded by the kernel)').format(text(st.port)) : _('RTP port %s').format(text(st.port))),
		E('ul', {}, (Array.isArray(st.legs) ? st.legs : []).map(l => E('li', {},
			_('from %s %s: %s packets, %s%s').format(
				side(l.side),
				l.latched ? text(l.latched) : _('(expected %s, not latched)').format(text(l.expected)),
				text(l.packets), bytes(l.bytes),
				l.latched ? ' ' + _('(latched)') : ''))))
	])));
}

function calls(st) {
	const list = (st.calls && Array.isArray(st.calls.list)) ? st.calls.list : [];
	return table([ _('From'), _('To'), _('Direction'), _('State'), _('Duration'), _('On hold'), _('Media') ],
		list.map(c => [
			text(c.from), text(c.to),
			c.direction == 'incoming' ? _('incoming') : c.direction == 'outgoing' ? _('outgoing') : text(c.direction),
			c.state == 'trying' ? _('trying') : c.state == 'ringing' ? _('ringing')
				: c.state == 'established' ? _('established') : text(c.state),
			duration(c.duration), yesno(c.hold), streams(c)
		]), _('No call in progress.'));
}

function counters(st) {
	const relay = st.relay || {};
	const rows = [
		[ _('Relayed packets'), text(relay.forwarded_packets) ],
		[ _('Relayed bytes'), bytes(relay.forwarded_bytes) ],
		[ _('Streams latched'), text(relay.latches) ],
		[ _('Packets held before latching'), text(relay.held) ],
		[ _('Held packets flushed'), text(relay.flushed) ],
		[ _('Streams refused: port pool full'), text(relay.pool_full) ],
		[ _('Streams refused: no port could be bound'), text(relay.no_port) ],
		[ _('Streams timed out'), text(relay.timed_out) ],
		[ _('Streams handed to the kernel'), text(relay.kernel && relay.kernel.handovers) ],
		[ _('Streams taken back from the kernel'), text(relay.kernel && (relay.kernel.taken_back + relay.kernel.missed)) ],
		[ _('Handovers to the kernel refused'), text(relay.kernel && relay.kernel.failed) ]
	];
	const dropped = relay.dropped || {};
	Object.keys(dropped).sort().forEach(k => rows.push([ _('RTP dropped: %s').format(k), text(dropped[k]) ]));
	const ctr = st.counters || {};
	Object.keys(ctr).sort().forEach(k => rows.push([ k, text(ctr[k]) ]));
	return facts(rows);
}

function dns(st) {
	const d = st.dns || {};
	const cache = Array.isArray(d.cache) ? d.cache : [];
	return E('div', {}, [
		E('p', {}, _('Name servers: %s; queries pending: %s').format(
			Array.isArray(d.nameservers) && d.nameservers.length ? d.nameservers.join(', ') : '-',
			text(d.pending))),
		table([ _('Name'), _('Type'), _('Answers'), _('TTL') ], cache.map(e => [
			text(e.name), text(e.type),
			Array.isArray(e.answers) && e.answers.length ? e.answers.join(', ') : _('none'),
			duration(e.ttl)
		]), _('The DNS cache is empty.'))
	]);
}

function instance(st) {
	const title = _('Instance %s').format(text(st.instance));
	if (st.error != null)
		return E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, title),
			E('div', { 'class': 'alert-message warning' }, _('Not answering: %s').format(text(st.error)))
		]);
	return E('div', { 'class': 'cbi-section' }, [
		E('h3', {}, title),
		summary(st),
		section(_('Registrations'), registrations(st)),
		section(_('Calls'), calls(st)),
		section(_('Counters'), counters(st)),
		section(_('DNS'), dns(st))
	]);
}

// The whole page body for one answer of the ubus call (or its failure).
function renderStatus(data) {
	if (data == null || data.rpcError != null) {
		const why = text(data && data.rpcError);
		return [ E('div', { 'class': 'alert-message warning' }, [
			E('p', {}, _('Could not ask sipnat for its status: %s').format(why)),
			/not found/i.test(why) ? E('p', {}, _('The ubus object "sipnat" is missing: check that the sipnat package is installed, then run /etc/init.d/rpcd reload.')) : ''
		]) ];
	}
	const list = Array.isArray(data.instances) ? data.instances : [];
	if (!list.length)
		return [ E('div', { 'class': 'alert-message notice' },
			_('sipnat is not running: no instance answered. Enable an instance under Settings and start it with /etc/init.d/sipnat start.')) ];
	return list.map(instance);
}

// LuCI's RPC errors carry a stack trace after the first line: not for the page.
function fetchStatus() {
	return callStatus().catch(err => ({ rpcError: String((err && err.message) || err).split('\n')[0] }));
}

return view.extend({
	load() {
		return fetchStatus();
	},

	render(data) {
		const body = E('div', { 'id': 'sipnat-status' }, renderStatus(data));

		poll.add(() => fetchStatus().then(d => dom.content(body, renderStatus(d))), 5);

		return E('div', {}, [
			E('h2', {}, _('SIP NAT proxy status')),
			E('div', { 'class': 'cbi-map-descr' }, _('Registrations, calls and counters of every running sipnat instance, refreshed every 5 seconds.')),
			body
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
