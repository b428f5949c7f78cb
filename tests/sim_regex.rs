//! Simulations of siproxd's regex, regex_body and siptrunk plugins, built
//! into sipnat, with siproxd's own example values (doc/siproxd.conf.example).

mod common;
use common::media::{sdp, with_body};
use common::*;
use sipnat::config::parse_siproxd_conf;

/// siproxd's three plugin_regex examples.
const REGEX_RULES: &str = "load_plugin = plugin_regex.so\n\
     plugin_regex_desc    = Test Regex 1\n\
     plugin_regex_pattern = ^(sips?:)00\n\
     plugin_regex_replace = \\1+\n\
     plugin_regex_desc    = Test Regex 2\n\
     plugin_regex_pattern = ^(sips?:)01\n\
     plugin_regex_replace = \\1+a\n\
     plugin_regex_desc    = Test Regex 3\n\
     plugin_regex_pattern = ^(sips?:)01\n\
     plugin_regex_replace = \\1:001\n";

/// Register `user@host` from the phone through sipnat (to the registrar
/// at REGISTRAR, by the outbound proxy when `host` is a name) and confirm
/// it with the registrar's 200.
fn registered(sim: &mut Sim, user: &str, host: &str) {
    let fwd = sim.one(
        PHONE,
        &register(user, host, PHONE, "reg1@10.77.1.2", 1, "r1", 3600),
    );
    assert_eq!(fwd.to, addr(REGISTRAR), "{}", fwd.text);
    let contact = fwd.header("Contact").unwrap(); // a REGISTER passed on has one
    let ok = response_to(
        &fwd,
        200,
        "OK",
        Some("reg"),
        &format!("Contact: {contact}\r\nExpires: 3600\r\n"),
    );
    assert_eq!(sim.one(REGISTRAR, &ok).to, addr(PHONE));
}

fn call_out(sim: &mut Sim, ruri: &str, id: &str) -> Sent {
    let inv = invite(
        ruri,
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        id,
        id,
        "sip:100@10.77.1.2:5060",
    );
    sim.one(PHONE, &inv)
}

fn call_in(sim: &mut Sim, ruri: &str, to: &str, id: &str) -> Sent {
    let inv = invite(
        ruri,
        "alice",
        "198.51.100.3",
        "198.51.100.3:5060",
        id,
        id,
        "sip:alice@198.51.100.3",
    )
    .replacen(&format!("To: <{ruri}>"), &format!("To: <{to}>"), 1);
    sim.one(PEER, &inv)
}

/// The body as sent, and whether Content-Length gives its length.
fn body_checked(s: &Sent) -> &str {
    let len: usize = s.header("Content-Length").unwrap().parse().unwrap(); // sipnat writes it
    assert_eq!(len, s.body().len(), "Content-Length of:\n{}", s.text);
    s.body()
}

#[test]
fn regex_retargets_new_calls_by_the_first_rule_that_matches() {
    let conf = format!("{}rtp_proxy_enable = 0\n{REGEX_RULES}", config_text());
    let mut sim = Sim::with_config(&conf);
    registered(&mut sim, "100", "198.51.100.2");
    // ^(sips?:)00 -> \1+
    let out = call_out(&mut sim, "sip:0049301234@198.51.100.2", "rx1");
    assert_eq!(
        out.first_line(),
        "INVITE sip:+49301234@198.51.100.2 SIP/2.0"
    );
    assert_eq!(out.to, addr(REGISTRAR));
    assert_eq!(
        out.header("To").unwrap(),
        "<sip:0049301234@198.51.100.2>",
        "To stays what the phone dialled"
    );
    // rules 2 and 3 both match: the first wins
    let out = call_out(&mut sim, "sip:01234@198.51.100.2", "rx2");
    assert_eq!(out.first_line(), "INVITE sip:+a234@198.51.100.2 SIP/2.0");
    // no rule matches: untouched
    let out = call_out(&mut sim, "sip:4930123@198.51.100.2", "rx3");
    assert_eq!(out.first_line(), "INVITE sip:4930123@198.51.100.2 SIP/2.0");
    // case ignored, as siproxd's REG_ICASE
    let out = call_out(&mut sim, "SIP:00431@198.51.100.2", "rx4");
    assert_eq!(out.first_line(), "INVITE SIP:+431@198.51.100.2 SIP/2.0");
    assert_eq!(sim.core.stats().get("regex", "retargeted"), 3);

    // a request in a dialog (To tag) is left alone
    let reinvite = invite(
        "sip:0049301234@198.51.100.2",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "rx1",
        "rx5",
        "sip:100@10.77.1.2:5060",
    )
    .replacen(
        "To: <sip:0049301234@198.51.100.2>",
        "To: <sip:0049301234@198.51.100.2>;tag=far",
        1,
    );
    let out = sim.one(PHONE, &reinvite);
    assert_eq!(
        out.first_line(),
        "INVITE sip:0049301234@198.51.100.2 SIP/2.0"
    );
    // so is anything but an INVITE
    let options = invite(
        "sip:0049301234@198.51.100.2",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "rx7",
        "rx7",
        "sip:100@10.77.1.2:5060",
    )
    .replacen("INVITE sip:", "OPTIONS sip:", 1)
    .replacen("CSeq: 1 INVITE", "CSeq: 1 OPTIONS", 1);
    let out = sim.one(PHONE, &options);
    assert_eq!(
        out.first_line(),
        "OPTIONS sip:0049301234@198.51.100.2 SIP/2.0"
    );
    // and a call from the WAN
    let out = call_in(
        &mut sim,
        "sip:0049@198.51.100.1",
        "sip:0049@198.51.100.1",
        "rx8",
    );
    assert_eq!(out.first_line(), "SIP/2.0 404 Not Found");

    // without the load_plugin line the rules do nothing
    let mut sim = Sim::with_config(&conf.replace("load_plugin = plugin_regex.so\n", ""));
    registered(&mut sim, "100", "198.51.100.2");
    let out = call_out(&mut sim, "sip:0049301234@198.51.100.2", "rx9");
    assert_eq!(
        out.first_line(),
        "INVITE sip:0049301234@198.51.100.2 SIP/2.0"
    );
    // a reload that loads it puts the rules in force
    sim.reload(&conf);
    let out = call_out(&mut sim, "sip:0049301234@198.51.100.2", "rx10");
    assert_eq!(
        out.first_line(),
        "INVITE sip:+49301234@198.51.100.2 SIP/2.0"
    );
}

#[test]
fn regex_works_on_what_the_dial_plan_made() {
    let conf = format!(
        "{}rtp_proxy_enable = 0\n{REGEX_RULES}load_plugin = plugin_shortdial.so\n\
         plugin_shortdial_akey = *00\nplugin_shortdial_entry = 0049301234\n",
        config_text()
    );
    let mut sim = Sim::with_config(&conf);
    registered(&mut sim, "100", "198.51.100.2");
    let out = call_out(&mut sim, "sip:*01@198.51.100.2", "dp1");
    assert_eq!(
        out.first_line(),
        "INVITE sip:+49301234@198.51.100.2 SIP/2.0"
    );
    assert_eq!(sim.core.stats().get("forward", "dial-plan"), 1);
}

#[test]
fn a_regex_result_that_is_no_sip_uri_leaves_the_call_as_it_was() {
    let conf = format!(
        "{}rtp_proxy_enable = 0\nload_plugin = plugin_regex.so\n\
         plugin_regex_desc = breaks it\nplugin_regex_pattern = ^sip:\n\
         plugin_regex_replace = <sip:\n\
         plugin_regex_desc = never reached\nplugin_regex_pattern = ^sip:0\n\
         plugin_regex_replace = sip:1\n",
        config_text()
    );
    let mut sim = Sim::with_config(&conf);
    registered(&mut sim, "100", "198.51.100.2");
    let out = call_out(&mut sim, "sip:0049@198.51.100.2", "bad1");
    assert_eq!(out.first_line(), "INVITE sip:0049@198.51.100.2 SIP/2.0");
    assert_eq!(sim.core.stats().get("regex", "not-a-sip-uri"), 1);
    assert_eq!(sim.core.stats().get("regex", "retargeted"), 0);
}

const BODY_RULE: &str = "load_plugin = plugin_regex_body.so\n\
     plugin_regex_body_desc    = Test Body Regex 1\n\
     plugin_regex_body_pattern = 1.2.3.4\n\
     plugin_regex_body_replace = host.domain.com\n";

#[test]
fn regex_body_rewrites_every_match_and_content_length_follows() {
    let conf = format!("{}rtp_proxy_enable = 0\n{BODY_RULE}", config_text());
    let mut sim = Sim::with_config(&conf);
    registered(&mut sim, "100", "198.51.100.2");
    let inv = invite(
        "sip:0049@198.51.100.2",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "rb1",
        "rb1",
        "sip:100@10.77.1.2:5060",
    );
    let out = sim.one(PHONE, &with_body(&inv, &sdp("1.2.3.4", 4000, "")));
    let body = body_checked(&out);
    assert_eq!(body.matches("host.domain.com").count(), 2, "{body}");
    assert!(!body.contains("1.2.3.4"), "{body}");
    assert_eq!(sim.core.stats().get("regex-body", "rewritten"), 1);
    // a response's body too: the 200 coming back
    let answer = sdp("1.2.3.4", 5000, "");
    let ok = response_to(&out, 200, "OK", Some("callee"), "");
    let back = sim.one(REGISTRAR, &with_body(&ok, &answer));
    assert_eq!(back.to, addr(PHONE));
    assert_eq!(
        body_checked(&back),
        answer.replace("1.2.3.4", "host.domain.com")
    );
    // a body without a match goes on as it came
    let out = call_out(&mut sim, "sip:0049@198.51.100.2", "rb2");
    assert!(body_checked(&out).contains("c=IN IP4 0.0.0.0"));
    assert_eq!(sim.core.stats().get("regex-body", "rewritten"), 2);
}

#[test]
fn regex_body_runs_before_the_sdp_is_masqueraded() {
    // 198.51.100.1 is sipnat's WAN address: it appears in the SDP only
    // once sipnat has pointed the media at its relay
    let conf = format!(
        "{}load_plugin = plugin_regex_body.so\n\
         plugin_regex_body_desc = relay address\nplugin_regex_body_pattern = 198\\.51\\.100\\.1\n\
         plugin_regex_body_replace = nowhere\n\
         plugin_regex_body_desc = session name\nplugin_regex_body_pattern = (s=)-\n\
         plugin_regex_body_replace = \\1through sipnat\n",
        config_text()
    );
    let mut sim = Sim::with_config(&conf);
    registered(&mut sim, "100", "198.51.100.2");
    // the phone's media at its LAN address, as a phone sends it
    let inv = invite(
        "sip:0049@198.51.100.2",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "mq1",
        "mq1",
        "sip:100@10.77.1.2:5060",
    );
    let out = sim.one(PHONE, &with_body(&inv, &sdp("10.77.1.2", 4000, "")));
    let body = body_checked(&out);
    assert!(
        body.contains("c=IN IP4 198.51.100.1"),
        "masqueraded: {body}"
    );
    assert!(!body.contains("nowhere"), "{body}");
    assert!(body.contains("s=through sipnat"), "{body}");
    assert_no_lan_leak(&out);
}

#[test]
fn a_body_too_large_for_a_message_goes_on_unchanged() {
    let big = "x".repeat(500);
    let conf = format!(
        "{}rtp_proxy_enable = 0\nload_plugin = plugin_regex_body.so\n\
         plugin_regex_body_desc = grows\nplugin_regex_body_pattern = [0-9]\n\
         plugin_regex_body_replace = {big}\n",
        config_text()
    );
    let mut sim = Sim::with_config(&conf);
    registered(&mut sim, "100", "198.51.100.2");
    let out = call_out(&mut sim, "sip:0049@198.51.100.2", "tl1");
    // 20-odd digits × 500 bytes: over 8 KB
    let body = body_checked(&out);
    assert!(
        body.starts_with("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"),
        "{body}"
    );
    assert_eq!(sim.core.stats().get("regex-body", "too-long"), 1);
}

const TRUNK: &str = "load_plugin = plugin_siptrunk.so\n\
     plugin_siptrunk_name = Example Trunk, 555-123100 ... 555-123112\n\
     plugin_siptrunk_account = sip:user@sip.example.org\n\
     plugin_siptrunk_numbers_regex = ^555123(10[0-9]|11[012])$\n\
     plugin_siptrunk_name = Nobody's trunk\n\
     plugin_siptrunk_account = sip:other@sip.example.org\n\
     plugin_siptrunk_numbers_regex = ^555999\n\
     outbound_proxy_host = 198.51.100.2\n";

#[test]
fn siptrunk_delivers_a_trunk_number_to_the_accounts_phone() {
    let conf = format!("{}rtp_proxy_enable = 0\n{TRUNK}", config_text());
    let mut sim = Sim::with_config(&conf);
    registered(&mut sim, "user", "sip.example.org");
    // the number in the Request-URI, sent to sipnat's address
    let out = call_in(
        &mut sim,
        "sip:555123105@198.51.100.1",
        "sip:555123105@sip.example.org",
        "tr1",
    );
    assert_eq!(out.to, addr(PHONE), "{}", out.text);
    assert_eq!(
        out.first_line(),
        "INVITE sip:555123105@10.77.1.2:5060;transport=udp SIP/2.0",
        "the number dialled, on the phone's contact"
    );
    // the number only in To (a trunk that calls the account)
    let out = call_in(
        &mut sim,
        "sip:trunkuser@198.51.100.1",
        "sip:555123112@sip.example.org",
        "tr2",
    );
    assert_eq!(out.to, addr(PHONE), "{}", out.text);
    assert_eq!(
        out.first_line(),
        "INVITE sip:555123112@10.77.1.2:5060;transport=udp SIP/2.0"
    );
    // for the provider's domain rather than sipnat's address
    let out = call_in(
        &mut sim,
        "sip:555123100@sip.example.org",
        "sip:555123100@sip.example.org",
        "tr3",
    );
    assert_eq!(out.to, addr(PHONE), "{}", out.text);
    assert_eq!(sim.core.stats().get("route", "siptrunk"), 3);

    // not a trunk number: answered as before
    let out = call_in(
        &mut sim,
        "sip:555123113@198.51.100.1",
        "sip:555123113@sip.example.org",
        "tr4",
    );
    assert_eq!(out.first_line(), "SIP/2.0 404 Not Found");
    let out = call_in(
        &mut sim,
        "sip:555123113@sip.example.org",
        "sip:555123113@sip.example.org",
        "tr5",
    );
    assert_eq!(out.first_line(), "SIP/2.0 403 Forbidden (not a local user)");
    // a trunk whose account no phone registered: as before, counted
    let out = call_in(
        &mut sim,
        "sip:555999@198.51.100.1",
        "sip:555999@sip.example.org",
        "tr6",
    );
    assert_eq!(out.first_line(), "SIP/2.0 404 Not Found");
    assert_eq!(sim.core.stats().get("route", "siptrunk-unregistered"), 1);
    // from the LAN, no trunk: a phone calling the number goes out
    let out = call_out(&mut sim, "sip:555123105@198.51.100.2", "tr7");
    assert_eq!(out.to, addr(REGISTRAR));
    assert_eq!(sim.core.stats().get("route", "siptrunk"), 3);
}

#[test]
fn siptrunk_stops_when_the_registration_is_gone() {
    let conf = format!("{}rtp_proxy_enable = 0\n{TRUNK}", config_text());
    let mut sim = Sim::with_config(&conf);
    registered(&mut sim, "user", "sip.example.org");
    sim.advance(std::time::Duration::from_secs(3601));
    let out = call_in(
        &mut sim,
        "sip:555123105@198.51.100.1",
        "sip:555123105@sip.example.org",
        "ex1",
    );
    assert_eq!(out.first_line(), "SIP/2.0 404 Not Found");
    // without the plugin line: never delivered
    let mut sim = Sim::with_config(&conf.replace("load_plugin = plugin_siptrunk.so\n", ""));
    registered(&mut sim, "user", "sip.example.org");
    let out = call_in(
        &mut sim,
        "sip:555123105@198.51.100.1",
        "sip:555123105@sip.example.org",
        "ex2",
    );
    assert_eq!(out.first_line(), "SIP/2.0 404 Not Found");
}

#[test]
fn the_plugins_options_are_checked_at_their_lines() {
    let errors = |text: &str| -> Vec<String> {
        let (_, d) = parse_siproxd_conf(text, "x.conf");
        d.iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect()
    };
    // siproxd's examples load, in order
    let (cfg, d) = parse_siproxd_conf(&format!("{REGEX_RULES}{BODY_RULE}{TRUNK}"), "x.conf");
    assert!(d.is_empty(), "{d:?}");
    assert!(cfg.regex && cfg.regex_body && cfg.siptrunk);
    let descs: Vec<&str> = cfg.regex_rules.iter().map(|r| r.desc.as_str()).collect();
    assert_eq!(descs, ["Test Regex 1", "Test Regex 2", "Test Regex 3"]);
    assert_eq!(cfg.regex_rules[1].replace.as_str(), "\\1+a");
    assert_eq!(cfg.regex_body_rules[0].re.as_str(), "1.2.3.4");
    assert_eq!(cfg.siptrunks[0].account, "user@sip.example.org");
    // counts that do not pair up: at the first line without its partner
    assert_eq!(
        errors(
            "plugin_regex_desc = a\nplugin_regex_pattern = ^a\nplugin_regex_replace = b\n\
             plugin_regex_desc = c\nplugin_regex_replace = d\n"
        ),
        [
            "x.conf:4: error: 2 plugin_regex_desc, 1 plugin_regex_pattern, 2 plugin_regex_replace lines: they pair up by position, so give as many of each"
        ]
    );
    assert_eq!(
        errors("plugin_siptrunk_name = a\nplugin_siptrunk_account = sip:a@b\n"),
        [
            "x.conf:1: error: 1 plugin_siptrunk_name, 0 plugin_siptrunk_numbers_regex, 1 plugin_siptrunk_account lines: they pair up by position, so give as many of each"
        ]
    );
    // a pattern that does not compile
    assert_eq!(
        errors(
            "plugin_regex_body_desc = a\nplugin_regex_body_pattern = ^(sips?:00\nplugin_regex_body_replace = x\n"
        ),
        [
            "x.conf:2: error: plugin_regex_body_pattern = '^(sips?:00': '(' without its ')' (at character 2)"
        ]
    );
    let e = errors("plugin_siptrunk_numbers_regex = \\d+\n");
    assert!(e[0].starts_with("x.conf:1: error: plugin_siptrunk_numbers_regex = '\\d+': '\\' before a letter is not POSIX"), "{e:?}");
    // a replacement naming a group the pattern lacks
    assert_eq!(
        errors(
            "plugin_regex_desc = a\nplugin_regex_pattern = ^sip:00\nplugin_regex_replace = \\1+\n"
        ),
        [
            "x.conf:3: error: plugin_regex_replace = '\\1+': names a group ( ) the pattern does not have (at character 1): '^sip:00' has 0 group(s)"
        ]
    );
    // an account that is not sip:user@host
    let e = errors("plugin_siptrunk_account = user@sip.example.org\n");
    assert!(
        e[0].starts_with("x.conf:1: error: plugin_siptrunk_account"),
        "{e:?}"
    );
    let e = errors("plugin_siptrunk_account = sip:sip.example.org\n");
    assert!(e[0].contains("not a SIP account sip:user@host"), "{e:?}");
    // and the plugins load in UCI files too, lists and quotes kept
    let uci = "config sipnat 'x'\n\
               \tlist load_plugin 'plugin_regex.so'\n\
               \tlist plugin_regex_desc 'Test Regex 1'\n\
               \tlist plugin_regex_pattern '^(sips?:)00'\n\
               \tlist plugin_regex_replace '\\1+'\n";
    let (cfg, d) = sipnat::config::uci::parse_uci_config(uci, "u", None).unwrap();
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(cfg.regex_rules[0].replace.as_str(), "\\1+");
}
