'use strict';
'require view';
'require form';
'require uci';
'require tools.widgets as widgets';

// Settings of sipnat, the SIP/RTP NAT proxy: every option of
// /etc/config/sipnat (see uci-config/sipnat in the sipnat repository),
// one `config sipnat` section per instance. Option names are siproxd's;
// the checks below follow what sipnat itself accepts (src/config/), so a
// value LuCI lets through is one `sipnat --check-config` takes too.
// A flag the shipped file sets has rmempty = false: LuCI would otherwise
// delete `option daemonize '0'` (its default) at the first save.

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp('^' + OCTET + '(\\.' + OCTET + '){3}$');
const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

// The number of colon-separated groups of 1 to 4 hex digits in s (none
// empty; '' has none), or -1.
function hexGroups(s) {
	if (s === '')
		return 0;
	const g = s.split(':');
	return g.every(x => /^[0-9A-Fa-f]{1,4}$/.test(x)) ? g.length : -1;
}

// An IPv6 address in one of RFC 4291 §2.2's text forms, as sipnat reads
// it: eight groups, or fewer around one '::', where a dotted IPv4 tail
// counts as two groups.
function isIPv6(a) {
	if (a.indexOf('.') >= 0) {
		const colon = a.lastIndexOf(':');
		if (colon < 0 || !IPV4.test(a.substring(colon + 1)))
			return false;
		a = a.substring(0, colon) + ':0:0';
	}
	const halves = a.split('::');
	if (halves.length > 2 || a.indexOf(':::') >= 0)
		return false;
	if (halves.length == 1)
		return hexGroups(a) == 8;
	const l = hexGroups(halves[0]), r = hexGroups(halves[1]);
	return l >= 0 && r >= 0 && l + r <= 7;
}

// One entry of hosts_allow_reg, hosts_allow_sip or hosts_deny_sip, as
// sipnat reads it (src/config/acl.rs): an IPv4 or IPv6 address or a host
// name, each with an optional prefix length; a list value may hold
// several, separated by commas (siproxd's syntax).
function checkAclEntry(entry) {
	const e = entry.trim();
	const slash = e.indexOf('/');
	const host = slash < 0 ? e : e.substring(0, slash).trim();
	const prefix = slash < 0 ? null : e.substring(slash + 1).trim();

	if (host === '')
		return _('Empty entry: write a network (192.168.1.0/24, 2001:db8::/32) or a host name');
	if (host.indexOf(':') >= 0) {
		if (!isIPv6(host))
			return _('Not an IPv6 address: %s').format(e);
		if (prefix !== null && (!/^[0-9]{1,3}$/.test(prefix) || +prefix > 128))
			return _('The prefix length of an IPv6 network must be a number from 0 to 128: %s').format(e);
		return true;
	}
	if (prefix !== null) {
		if (prefix.indexOf('.') >= 0)
			return _('Write the mask as a prefix length (e.g. /24), not as a dotted netmask: %s').format(e);
		if (!/^[0-9]{1,2}$/.test(prefix) || +prefix > 32)
			return _('The prefix length must be a number from 0 to 32: %s').format(e);
	}
	if (!/[A-Za-z]/.test(host))
		return IPV4.test(host) ? true : _('Not an IPv4 address: %s').format(e);

	const bare = host.replace(/\.$/, '');
	if (bare.length > 128)
		return _('Host name longer than 128 characters: %s').format(e);
	if (!bare.split('.').every(l => LABEL.test(l)))
		return _('Neither an IPv4 network nor a host name (letters, digits and "-" in dot-separated labels): %s').format(e);
	return true;
}

function validateAcl(section_id, value) {
	if (value == null || value === '')
		return true;
	for (const entry of String(value).split(',')) {
		const r = checkAclEntry(entry);
		if (r !== true)
			return r;
	}
	return true;
}

// A comma-separated list of networks only (no host names), as sipnat
// reads plugin_fix_bogus_via_networks and plugin_fix_DTAG_networks.
function validateNetworkList(section_id, value) {
	if (value == null || value === '')
		return true;
	for (const entry of String(value).split(',')) {
		const r = checkAclEntry(entry);
		if (r !== true)
			return r;
		if (/[A-Za-z]/.test(entry) && entry.indexOf(':') < 0)
			return _('Networks only, no host names: %s').format(entry.trim());
	}
	return true;
}

// debug_level: siproxd's class mask, decimal or 0x hexadecimal, -1 for all.
function validateDebugLevel(section_id, value) {
	if (value == null || value === '')
		return true;
	const v = String(value).trim();
	let n;
	if (/^[-+]?0[xX][0-9a-fA-F]+$/.test(v))
		n = (v.charAt(0) == '-' ? -1 : 1) * parseInt(v.replace(/^[-+]?0[xX]/, ''), 16);
	else if (/^[-+]?[0-9]+$/.test(v))
		n = parseInt(v, 10);
	else
		return _('A number (decimal or 0x hexadecimal); -1 enables every class');
	if (n < -2147483648 || n > 4294967295)
		return _('Out of range: -2147483648 to 4294967295');
	return true;
}

// proxy_auth_realm goes into a quoted string of sipnat's challenges.
function validateRealm(section_id, value) {
	if (value == null || value === '')
		return true;
	if (/["\\\x00-\x1f\x7f]/.test(value))
		return _('A realm holds no quote, backslash or control character');
	return true;
}

// tls_fingerprint: a SHA-256, 64 hex digits, colons allowed between the
// bytes (as `openssl x509 -fingerprint -sha256` prints it), as sipnat's
// own reader takes it.
function validateFingerprint(section_id, value) {
	if (value == null || value === '')
		return true;
	if (!/^[0-9A-Fa-f]{64}$/.test(value.replace(/:/g, '')))
		return _('A SHA-256 fingerprint: 64 hex digits, colons allowed');
	return true;
}

function validateUser(section_id, value) {
	if (value == null || value === '')
		return true;
	return /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(value) ? true
		: _('A user name: letters, digits, "_", "." and "-"');
}

// The RTP port pair range, checked together: sipnat refuses an odd low
// port, a range without one RTP/RTCP pair, and one holding the SIP port.
function rtpPorts(section, section_id) {
	const num = (name, dflt) => {
		const v = section.formvalue(section_id, name);
		return (v == null || v === '') ? dflt : +v;
	};
	return {
		low: num('rtp_port_low', 7070),
		high: num('rtp_port_high', 7089),
		sip: num('sip_listen_port', 5060)
	};
}

function validateRtpLow(section_id, value) {
	if (value == null || value === '')
		return true;
	const p = rtpPorts(this.section, section_id);
	if (+value % 2 != 0)
		return _('RTP uses even ports (RTCP the odd one above): make the lowest port even');
	if (+value >= p.high)
		return _('The lowest RTP port must be below the highest (%d)').format(p.high);
	if (p.sip >= +value && p.sip <= p.high)
		return _('The RTP ports %d-%d hold the SIP port %d').format(+value, p.high, p.sip);
	return true;
}

function validateRtpHigh(section_id, value) {
	if (value == null || value === '')
		return true;
	const p = rtpPorts(this.section, section_id);
	if (+value <= p.low)
		return _('The highest RTP port must be above the lowest (%d)').format(p.low);
	if (p.sip >= p.low && p.sip <= +value)
		return _('The RTP ports %d-%d hold the SIP port %d').format(p.low, +value, p.sip);
	return true;
}

// A grid column shows sipnat's default (the placeholder) for an option
// the section leaves unset, instead of LuCI's "none", without writing it.
function textOrDefault(section_id) {
	const v = this.cfgvalue(section_id);
	if (v == null || v === '')
		return E('em', {}, _('%s (default)').format(this.placeholder));
	return '%h'.format(v);
}

// The name the init script gives the instance of a section, which the
// Status page shows: the section's name, or sipnatN for an unnamed one,
// N counting every sipnat section from 0 (init.d/sipnat).
function instanceTitle(section_id) {
	const all = uci.sections('sipnat', 'sipnat');
	const i = all.findIndex(x => x['.name'] == section_id);
	if (i < 0 || !all[i]['.anonymous'])
		return section_id;
	return _('%s (unnamed)').format('sipnat' + i);
}

return view.extend({
	render() {
		let m, s, o;

		m = new form.Map('sipnat', _('SIP NAT proxy'),
			_('sipnat lets SIP phones on the LAN register and call through the router\'s NAT: it rewrites SIP for the public address and relays the audio (RTP). Each instance below is one section of /etc/config/sipnat; option names are siproxd\'s.'));

		s = m.section(form.GridSection, 'sipnat', _('Instances'));
		s.addremove = true;
		s.anonymous = false;
		s.nodescriptions = true;
		s.addbtntitle = _('Add instance');
		s.sectiontitle = instanceTitle;

		s.tab('general', _('General'));
		s.tab('interfaces', _('Interfaces'));
		s.tab('sip', _('SIP'));
		s.tab('tls', _('TLS'));
		s.tab('rtp', _('RTP'));
		s.tab('registrations', _('Registrations'));
		s.tab('access', _('Access'));
		s.tab('auth', _('Authentication'));
		s.tab('plugins', _('Plugins'));
		s.tab('logging', _('Logging'));

		/* general */
		o = s.taboption('general', form.Flag, 'enabled', _('Enabled'),
			_('Start this instance with /etc/init.d/sipnat.'));
		o.default = '1';
		o.rmempty = false;
		o.editable = true;

		o = s.taboption('general', form.Value, 'user', _('Run as user'),
			_('Unprivileged user sipnat switches to once its ports are bound (the package creates "sipnat").'));
		o.datatype = 'maxlength(32)';
		o.validate = validateUser;
		o.placeholder = 'sipnat';
		o.modalonly = true;

		o = s.taboption('general', form.Flag, 'daemonize', _('Detach'),
			_('Off: stay in the foreground, as procd expects.'));
		o.default = '0';
		o.rmempty = false;
		o.modalonly = true;

		o = s.taboption('general', form.Value, 'pid_file', _('PID file'),
			_('Write the process id here (procd does not need it).'));
		o.datatype = 'file';
		o.placeholder = '/var/run/sipnat.pid';
		o.modalonly = true;

		o = s.taboption('general', form.Value, 'chrootjail', _('Chroot directory'),
			_('Ignored: /etc/init.d/sipnat always runs sipnat in a procd jail. Kept for siproxd configurations.'));
		o.datatype = 'directory';
		o.modalonly = true;

		/* interfaces */
		o = s.taboption('interfaces', widgets.NetworkSelect, 'interface_inbound', _('LAN network'),
			_('Network where the phones are; resolved to its device at start.'));
		o.nocreate = true;
		o.default = 'lan';

		o = s.taboption('interfaces', widgets.NetworkSelect, 'interface_outbound', _('WAN network'),
			_('Network towards the providers; resolved to its device at start.'));
		o.nocreate = true;
		o.default = 'wan';

		o = s.taboption('interfaces', widgets.DeviceSelect, 'if_inbound', _('LAN device'),
			_('A device by name, instead of the LAN network (e.g. br-lan).'));
		o.noaliases = true;
		o.optional = true;
		o.modalonly = true;

		o = s.taboption('interfaces', widgets.DeviceSelect, 'if_outbound', _('WAN device'),
			_('A device by name, instead of the WAN network (e.g. pppoe-wan).'));
		o.noaliases = true;
		o.optional = true;
		o.modalonly = true;

		o = s.taboption('interfaces', form.Value, 'host_outbound', _('Public address'),
			_('Address or host name to announce when this router sits behind another NAT.'));
		o.datatype = 'host';
		o.placeholder = 'myhome.dyndns.example';
		o.modalonly = true;

		/* SIP */
		o = s.taboption('sip', form.Value, 'sip_listen_port', _('SIP port'),
			_('Port for SIP on both sides, UDP and TCP.'));
		o.datatype = 'port';
		o.placeholder = '5060';
		o.textvalue = textOrDefault;

		o = s.taboption('sip', form.Value, 'sip_dscp', _('SIP DSCP'),
			_('DSCP of the SIP packets sipnat sends: 24 (CS3) is call signalling; 0 leaves it unset.'));
		o.datatype = 'range(0,63)';
		o.placeholder = '24';
		o.modalonly = true;

		o = s.taboption('sip', form.Value, 'tcp_timeout', _('TCP idle timeout'),
			_('Seconds an idle SIP TCP connection is kept open.'));
		o.datatype = 'and(uinteger,range(1,4294967295))';
		o.placeholder = '300';
		o.modalonly = true;

		o = s.taboption('sip', form.Value, 'tcp_connect_timeout', _('TCP connect timeout'),
			_('Milliseconds an outgoing TCP connect may take (sipnat never blocks meanwhile).'));
		o.datatype = 'and(uinteger,range(1,4294967295))';
		o.placeholder = '500';
		o.modalonly = true;

		o = s.taboption('sip', form.Value, 'tcp_keepalive', _('TCP keep-alive'),
			_('Seconds between keep-alive CRLFs on each TCP connection; 0: none.'));
		o.datatype = 'uinteger';
		o.placeholder = '0';
		o.modalonly = true;

		o = s.taboption('sip', form.Value, 'ua_string', _('User-Agent toward the WAN'),
			_('Replaces the phones\' User-Agent (and Server) header in what goes to the provider; empty: left as it is.'));
		o.datatype = 'maxlength(128)';
		o.placeholder = 'HomeRouter';
		o.modalonly = true;

		o = s.taboption('sip', form.ListValue, 'use_rport', _('rport toward the phones'),
			_('siproxd\'s use_rport: ask for symmetric responses (RFC 3581) in requests to the LAN too. Toward the WAN sipnat always asks.'));
		o.value('0', _('0: toward the WAN only'));
		o.value('1', _('1: toward the LAN too'));
		o.value('2', _('2: toward the WAN only (as 0)'));
		o.value('3', _('3: toward the LAN too (as 1)'));
		o.default = '0';
		o.modalonly = true;

		o = s.taboption('sip', form.Value, 'outbound_proxy_host', _('Outbound proxy'),
			_('Send all outgoing SIP through this proxy.'));
		o.datatype = 'host';
		o.placeholder = 'proxy.provider.example';
		o.modalonly = true;

		o = s.taboption('sip', form.Value, 'outbound_proxy_port', _('Outbound proxy port'));
		o.datatype = 'port';
		o.placeholder = '5060';
		o.modalonly = true;

		o = s.taboption('sip', form.DynamicList, 'outbound_domain_name', _('Provider domains'),
			_('Provider domains with their own proxy: the n-th domain pairs with the n-th proxy host and port below.'));
		o.datatype = 'hostname';
		o.modalonly = true;

		o = s.taboption('sip', form.DynamicList, 'outbound_domain_host', _('Provider domain proxies'),
			_('Proxy host for the n-th provider domain.'));
		o.datatype = 'host';
		o.modalonly = true;

		o = s.taboption('sip', form.DynamicList, 'outbound_domain_port', _('Provider domain proxy ports'),
			_('Proxy port for the n-th provider domain; leave all out for 5060.'));
		o.datatype = 'port';
		o.modalonly = true;

		o = s.taboption('sip', form.DynamicList, 'mask_host', _('Masked phone domains'),
			_('A domain phones register with and cannot be told to change, typically this router\'s LAN address; the n-th pairs with the n-th name below.'));
		o.datatype = 'host';
		o.modalonly = true;

		o = s.taboption('sip', form.DynamicList, 'masked_host', _('Shown as'),
			_('What the n-th masked domain is shown as toward the WAN (e.g. a name of the public address); calls for user@this reach the phone.'));
		o.datatype = 'host';
		o.modalonly = true;

		/* RTP */
		o = s.taboption('rtp', form.Flag, 'rtp_proxy_enable', _('Relay audio'),
			_('Relay RTP through the router (needed behind NAT); off: leave RTP alone.'));
		o.default = '1';
		o.rmempty = false;
		o.modalonly = true;

		o = s.taboption('rtp', form.Value, 'rtp_port_low', _('Lowest RTP port'),
			_('Even; the firewall opens the ports from the lowest to the highest.'));
		o.datatype = 'port';
		o.placeholder = '7070';
		o.validate = validateRtpLow;
		o.textvalue = textOrDefault;

		o = s.taboption('rtp', form.Value, 'rtp_port_high', _('Highest RTP port'),
			_('Every audio stream takes one RTP/RTCP port pair, opened only while it lasts: 7070-7089 holds 10 streams; a larger range costs nothing while idle (at most 2048 streams).'));
		o.datatype = 'port';
		o.placeholder = '7089';
		o.validate = validateRtpHigh;
		o.textvalue = textOrDefault;

		o = s.taboption('rtp', form.Value, 'rtp_timeout', _('RTP timeout'),
			_('Seconds without audio after which a stream is closed (long enough for calls on hold).'));
		o.datatype = 'and(uinteger,range(1,4294967295))';
		o.placeholder = '300';
		o.modalonly = true;

		o = s.taboption('tls', form.Flag, 'outbound_tls', _('TLS toward the provider'),
			_('Package sipnat-tls only. What goes to the outbound proxy (SIP tab; set its port, usually 5061) goes over TLS, whatever the phones speak. The provider\'s certificate is checked; a failure is an error to the phone, never plain SIP.'));
		o.modalonly = true;

		o = s.taboption('tls', form.Value, 'tls_ca_file', _('CA certificates'),
			_('PEM file of the CAs a provider\'s certificate must chain to; empty: the ca-bundle package\'s.'));
		o.datatype = 'file';
		o.placeholder = '/etc/ssl/certs/ca-certificates.crt';
		o.modalonly = true;

		o = s.taboption('tls', form.DynamicList, 'tls_fingerprint', _('Pinned certificates'),
			_('SHA-256 fingerprints of the provider\'s certificate: when given, only such a certificate is accepted (a self-signed one works).'));
		o.validate = validateFingerprint;
		o.modalonly = true;

		o = s.taboption('tls', form.Value, 'tls_listen_port', _('TLS port for phones'),
			_('Port on which phones on the LAN may speak TLS to sipnat; 0: none.'));
		o.datatype = 'port';
		o.placeholder = '0';
		o.modalonly = true;

		o = s.taboption('tls', form.Value, 'tls_cert_file', _('Certificate for phones'),
			_('PEM certificate chain shown to TLS phones; made self-signed at start when missing.'));
		o.datatype = 'file';
		o.placeholder = '/etc/sipnat.crt';
		o.modalonly = true;

		o = s.taboption('tls', form.Value, 'tls_key_file', _('Key for phones'),
			_('PEM private key of that certificate.'));
		o.datatype = 'file';
		o.placeholder = '/etc/sipnat.key';
		o.modalonly = true;

		o = s.taboption('rtp', form.Flag, 'rtp_kernel_forward', _('Kernel forwarding'),
			_('Once a call has audio both ways, the kernel forwards it (nftables; flow offloading can then apply) and sipnat spends nothing per packet. Off: sipnat relays every packet.'));
		o.default = '1';
		o.rmempty = false;
		o.modalonly = true;

		o = s.taboption('rtp', form.Value, 'rtp_dscp', _('RTP DSCP'),
			_('DSCP of relayed RTP: 46 (EF) is expedited forwarding for voice; 0 leaves it unset.'));
		o.datatype = 'range(0,63)';
		o.placeholder = '46';
		o.modalonly = true;

		/* registrations */
		o = s.taboption('registrations', form.Value, 'registration_file', _('Registration file'),
			_('Where the registrations are kept, so a restart does not log the phones out.'));
		o.datatype = 'file';
		o.placeholder = '/var/lib/sipnat/registrations';
		o.modalonly = true;

		o = s.taboption('registrations', form.Value, 'autosave_registrations', _('Save every'),
			_('Seconds between saves of the registrations; 0: only when they change and at exit.'));
		o.datatype = 'uinteger';
		o.placeholder = '300';
		o.modalonly = true;

		o = s.taboption('registrations', form.Value, 'default_expires', _('Default expiry'),
			_('Seconds a registration lasts when the REGISTER does not ask for a time.'));
		o.datatype = 'and(uinteger,range(1,4294967295))';
		o.placeholder = '3600';
		o.modalonly = true;

		/* access */
		o = s.taboption('access', form.DynamicList, 'hosts_allow_reg', _('May register'),
			_('IPv4 networks or host names whose phones may register (and so send SIP); empty: everyone. REGISTER from the WAN is always refused. Host names are resolved without blocking and refreshed on their TTL.'));
		o.validate = validateAcl;
		o.placeholder = '192.168.1.0/24';
		o.modalonly = true;

		o = s.taboption('access', form.DynamicList, 'hosts_allow_sip', _('May send SIP'),
			_('IPv4 networks or host names allowed to send SIP at all; empty: everyone. Add your provider\'s when you set this.'));
		o.validate = validateAcl;
		o.placeholder = 'sip.example-provider.net/32';
		o.modalonly = true;

		o = s.taboption('access', form.DynamicList, 'hosts_deny_sip', _('Never accept SIP from'),
			_('IPv4 networks or host names whose SIP is always dropped, before the allow lists.'));
		o.validate = validateAcl;
		o.placeholder = '10.0.0.0/8';
		o.modalonly = true;

		o = s.taboption('access', form.Flag, 'wan_sip_open', _('Open the SIP port to the WAN'),
			_('Needed only for calls a provider sends without a registration from here; phones registering out need no open port.'));
		o.default = '0';
		o.rmempty = false;
		o.modalonly = true;

		o = s.taboption('access', form.DynamicList, 'wan_sip_allow', _('WAN sources allowed'),
			_('Only these IPv4 or IPv6 addresses or networks (your provider\'s) may reach the open SIP port; none: the whole WAN.'));
		o.datatype = 'or(ip4addr("nomask"),cidr4,ip6addr("nomask"),cidr6)';
		o.placeholder = '203.0.113.0/24';
		o.depends('wan_sip_open', '1');
		o.modalonly = true;

		/* authentication */
		o = s.taboption('auth', form.Value, 'proxy_auth_realm', _('Realm'),
			_('Set it, and phones must log in to sipnat to register or call.'));
		o.datatype = 'maxlength(64)';
		o.validate = validateRealm;
		o.placeholder = 'home';
		o.modalonly = true;

		o = s.taboption('auth', form.Value, 'proxy_auth_pwfile', _('Password file'),
			_('Lines of "user password" (or "user md5:HA1", "user sha-256:HA1"); chgrp sipnat, chmod 640. Wins over the shared password.'));
		o.datatype = 'file';
		o.placeholder = '/etc/sipnat.passwd';
		o.modalonly = true;

		o = s.taboption('auth', form.Value, 'proxy_auth_passwd', _('Shared password'),
			_('One password for every user.'));
		o.datatype = 'string';
		o.password = true;
		o.modalonly = true;

		o = s.taboption('auth', form.ListValue, 'proxy_auth_algorithms', _('Digest algorithms'),
			_('Offered to the phones, preferred first; MD5 alone for phones that give up on SHA-256.'));
		o.value('', _('SHA-256, then MD5 (default)'));
		o.value('SHA-256 MD5', 'SHA-256 MD5');
		o.value('MD5 SHA-256', 'MD5 SHA-256');
		o.value('SHA-256', 'SHA-256');
		o.value('MD5', 'MD5');
		o.modalonly = true;

		/* plugins */
		o = s.taboption('plugins', form.DynamicList, 'load_plugin', _('Plugins'),
			_('siproxd plugins to load. Built into sipnat: plugin_blacklist.so, plugin_codecfilter.so, plugin_defaulttarget.so, plugin_fix_bogus_via.so, plugin_fix_DTAG.so, plugin_logcall.so, plugin_prefix.so, plugin_regex.so, plugin_regex_body.so, plugin_shortdial.so, plugin_siptrunk.so, plugin_stats.so, plugin_stripheader.so, plugin_stun.so; other names (the demo plugin of siproxd) are accepted with a warning and do nothing.'));
		o.datatype = 'string';
		o.value('plugin_blacklist.so', _('plugin_blacklist.so: block clients after failed logins'));
		o.value('plugin_codecfilter.so', _('plugin_codecfilter.so: take codecs out of every call'));
		o.value('plugin_defaulttarget.so', _('plugin_defaulttarget.so: calls for unknown users to a default target'));
		o.value('plugin_fix_bogus_via.so', _('plugin_fix_bogus_via.so: answer some networks at their real port'));
		o.value('plugin_fix_DTAG.so', _('plugin_fix_DTAG.so: take answers whose Via host a provider replaced'));
		o.value('plugin_logcall.so', _('plugin_logcall.so: a log line as each call starts and ends'));
		o.value('plugin_prefix.so', _('plugin_prefix.so: a prefix before every number dialled'));
		o.value('plugin_regex.so', _('plugin_regex.so: new calls retargeted by regular expressions'));
		o.value('plugin_regex_body.so', _('plugin_regex_body.so: message bodies rewritten by regular expressions'));
		o.value('plugin_shortdial.so', _('plugin_shortdial.so: short dials'));
		o.value('plugin_siptrunk.so', _('plugin_siptrunk.so: calls from a SIP trunk to the phone of its account'));
		o.value('plugin_stats.so', _('plugin_stats.so: statistics to the log and a file'));
		o.value('plugin_stripheader.so', _('plugin_stripheader.so: take headers out of every message'));
		o.value('plugin_stun.so', _('plugin_stun.so: learn the public address from a STUN server'));
		o.modalonly = true;

		o = s.taboption('plugins', form.Flag, 'log_calls', _('Log calls'),
			_('siproxd\'s older switch for plugin_logcall.so: a log line as each call starts and ends.'));
		o.default = '0';
		o.modalonly = true;

		o = s.taboption('plugins', form.Value, 'plugin_blacklist_hitcount', _('Blacklist: failed logins'),
			_('Failed authentications before a client is blocked.'));
		o.datatype = 'and(uinteger,range(1,1000))';
		o.placeholder = '10';
		o.modalonly = true;

		o = s.taboption('plugins', form.Value, 'plugin_blacklist_duration', _('Blacklist: block for'),
			_('Seconds a blocked client stays blocked; 0: until sipnat restarts.'));
		o.datatype = 'uinteger';
		o.placeholder = '3600';
		o.modalonly = true;

		o = s.taboption('plugins', form.Flag, 'plugin_blacklist_simulate', _('Blacklist: only log'),
			_('Log who would be blocked, block nobody.'));
		o.default = '0';
		o.modalonly = true;

		o = s.taboption('plugins', form.Value, 'plugin_defaulttarget_target', _('Default target'),
			_('With plugin_defaulttarget.so: a new call for a user sipnat does not know is redirected (302) to this SIP URI.'));
		o.datatype = 'maxlength(128)';
		o.validate = function(section_id, value) {
			if (value == null || value === '')
				return true;
			return /^sips?:[^\s<>"]+$/.test(value) ? true : _('A SIP URI: sip:user@host[:port]');
		};
		o.placeholder = 'sip:100@myhome.dyndns.example';
		o.modalonly = true;

		o = s.taboption('plugins', form.Flag, 'plugin_defaulttarget_log', _('Default target: log'),
			_('Log each call redirected to the default target.'));
		o.default = '0';
		o.modalonly = true;

		o = s.taboption('plugins', form.Value, 'plugin_fix_bogus_via_networks', _('Bogus Via: networks'),
			_('Comma-separated IPv4 networks whose requests are answered at their source port, whatever their Via says (with plugin_fix_bogus_via.so).'));
		o.validate = validateNetworkList;
		o.modalonly = true;

		o = s.taboption('plugins', form.Value, 'plugin_fix_DTAG_networks', _('DTAG Via: networks'),
			_('Comma-separated IPv4 networks of a provider that replaces the host of sipnat\'s Via in its answers (Deutsche Telekom: 217.0.23.100/32); such answers are taken when they keep sipnat\'s branch (with plugin_fix_DTAG.so).'));
		o.validate = validateNetworkList;
		o.modalonly = true;

		o = s.taboption('plugins', form.Value, 'plugin_shortdial_akey', _('Short dial key'),
			_('With *00, a phone dialling *01 calls the first entry below, *02 the second, ...'));
		o.datatype = 'and(maxlength(64),rangelength(2,64))';
		o.placeholder = '*00';
		o.modalonly = true;

		o = s.taboption('plugins', form.DynamicList, 'plugin_shortdial_entry', _('Short dials'),
			_('What short dial 1, 2, ... calls: a number, or user@host.'));
		o.datatype = 'maxlength(64)';
		o.modalonly = true;

		o = s.taboption('plugins', form.Value, 'plugin_prefix_akey', _('Prefix'),
			_('Put before every number the phones dial (with plugin_prefix.so), e.g. 0 for an outside line.'));
		o.datatype = 'maxlength(64)';
		o.modalonly = true;

		o = s.taboption('plugins', form.DynamicList, 'plugin_regex_desc', _('Regex: names'),
			_('With plugin_regex.so: a name per rule, for the log. The n-th name, pattern and replacement make rule n: give as many of each.'));
		o.datatype = 'maxlength(512)';
		o.modalonly = true;

		o = s.taboption('plugins', form.DynamicList, 'plugin_regex_pattern', _('Regex: patterns'),
			_('POSIX extended regular expressions, case ignored: a phone\'s new call goes to what the first rule that matches makes of its Request-URI (e.g. ^(sips?:)00).'));
		o.datatype = 'maxlength(512)';
		o.modalonly = true;

		o = s.taboption('plugins', form.DynamicList, 'plugin_regex_replace', _('Regex: replacements'),
			_('What replaces every match of the pattern; \\1 ... \\9 insert its groups (e.g. \\1+). The result must be a SIP URI.'));
		o.datatype = 'maxlength(512)';
		o.modalonly = true;

		o = s.taboption('plugins', form.DynamicList, 'plugin_regex_body_desc', _('Body regex: names'),
			_('With plugin_regex_body.so: a name per rule. The n-th name, pattern and replacement make rule n: give as many of each.'));
		o.datatype = 'maxlength(512)';
		o.modalonly = true;

		o = s.taboption('plugins', form.DynamicList, 'plugin_regex_body_pattern', _('Body regex: patterns'),
			_('POSIX extended regular expressions, case ignored, applied to every message body in turn, before sipnat masquerades the SDP.'));
		o.datatype = 'maxlength(512)';
		o.modalonly = true;

		o = s.taboption('plugins', form.DynamicList, 'plugin_regex_body_replace', _('Body regex: replacements'),
			_('What replaces every match of the pattern; \\1 ... \\9 insert its groups.'));
		o.datatype = 'maxlength(512)';
		o.modalonly = true;

		o = s.taboption('plugins', form.DynamicList, 'plugin_siptrunk_name', _('SIP trunks: names'),
			_('With plugin_siptrunk.so: a name per trunk, for the log. The n-th name, account and numbers make trunk n: give as many of each.'));
		o.datatype = 'maxlength(512)';
		o.modalonly = true;

		o = s.taboption('plugins', form.DynamicList, 'plugin_siptrunk_account', _('SIP trunks: accounts'),
			_('The account whose phone gets the trunk\'s calls, as it registers: sip:user@host.'));
		o.datatype = 'maxlength(512)';
		o.validate = function(section_id, value) {
			if (value == null || value === '')
				return true;
			return /^sips?:[^\s<>"@]+@[^\s<>"]+$/.test(value) ? true : _('A SIP account: sip:user@host');
		};
		o.modalonly = true;

		o = s.taboption('plugins', form.DynamicList, 'plugin_siptrunk_numbers_regex', _('SIP trunks: numbers'),
			_('POSIX extended regular expressions, case ignored, matched against the number called (e.g. ^555123(10[0-9]|11[012])$).'));
		o.datatype = 'maxlength(512)';
		o.modalonly = true;

		o = s.taboption('plugins', form.Value, 'plugin_stun_server', _('STUN server'),
			_('With plugin_stun.so: the server that tells sipnat its public address, behind another NAT (a public address set above wins).'));
		o.datatype = 'host';
		o.placeholder = 'stun.example.net';
		o.modalonly = true;

		o = s.taboption('plugins', form.Value, 'plugin_stun_port', _('STUN port'));
		o.datatype = 'port';
		o.placeholder = '3478';
		o.modalonly = true;

		o = s.taboption('plugins', form.Value, 'plugin_stun_period', _('STUN: ask every'),
			_('Seconds between questions (at least 10).'));
		o.datatype = 'range(10,86400)';
		o.placeholder = '300';
		o.modalonly = true;

		o = s.taboption('plugins', form.DynamicList, 'plugin_stripheader_remove', _('Headers to take out'),
			_('With plugin_stripheader.so: a header, or Header:value for one value of it. Via, From, To, Call-ID, CSeq, Contact, Content-Length, Content-Type, Max-Forwards and Route cannot be taken out.'));
		o.datatype = 'maxlength(128)';
		o.validate = function(section_id, value) {
			if (value == null || value === '')
				return true;
			const name = String(value).split(':')[0].trim();
			if (!/^[A-Za-z0-9.!%*_+`'~-]+$/.test(name))
				return _('Header or Header:value');
			if (['via', 'v', 'from', 'f', 'to', 't', 'call-id', 'i', 'cseq', 'contact', 'm', 'content-length', 'l', 'content-type', 'c', 'max-forwards', 'route'].indexOf(name.toLowerCase()) >= 0)
				return _('sipnat cannot pass messages on without %s').format(name);
			return true;
		};
		o.modalonly = true;

		o = s.taboption('plugins', form.DynamicList, 'plugin_codecfilter_blacklist', _('Codec filter: take out'),
			_('Codecs taken out of every relayed call, by name or part of it, any case (e.g. G729, GSM).'));
		o.datatype = 'maxlength(128)';
		o.modalonly = true;

		o = s.taboption('plugins', form.Value, 'plugin_stats_to_syslog', _('Statistics: log every'),
			_('Seconds between STATS lines in the log; -1: only on kill -USR1; 0: none.'));
		o.datatype = 'and(integer,range(-1,86400))';
		o.placeholder = '0';
		o.modalonly = true;

		o = s.taboption('plugins', form.Value, 'plugin_stats_to_file', _('Statistics: write file every'),
			_('Seconds between writes of the status to the statistics file; -1: only on kill -USR1; 0: never.'));
		o.datatype = 'and(integer,range(-1,86400))';
		o.placeholder = '0';
		o.modalonly = true;

		o = s.taboption('plugins', form.Value, 'plugin_stats_filename', _('Statistics file'),
			_('Replaced at each write.'));
		o.datatype = 'file';
		o.placeholder = '/tmp/sipnat.stats';
		o.modalonly = true;

		/* logging */
		o = s.taboption('logging', form.ListValue, 'silence_log', _('Log level'));
		o.value('0', _('Everything'));
		o.value('1', _('Informational (default)'));
		o.value('2', _('Warnings and errors'));
		o.value('3', _('Errors only'));
		o.value('4', _('Nothing'));
		o.default = '1';
		o.modalonly = true;

		o = s.taboption('logging', form.Value, 'debug_level', _('Debug classes'),
			_('siproxd\'s debug class mask (0x100: configuration; -1: everything); 0: no debug output.'));
		o.validate = validateDebugLevel;
		o.placeholder = '0';
		o.modalonly = true;

		return m.render();
	}
});
