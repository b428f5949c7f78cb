//! A siproxd configuration that sets every option siproxd reads loads into
//! sipnat with nothing left "not implemented" (issue 12): every option is
//! either in force or told, by its own warning, why sipnat has no use for
//! it.

use sipnat::config::options::SIPROXD_OPTIONS;
use sipnat::config::{Severity, parse_siproxd_conf};

const FILE: &str = "tests/data/siproxd-every-option.conf";

fn text() -> String {
    std::fs::read_to_string(FILE).expect("the test's configuration file")
}

#[test]
fn the_file_sets_every_siproxd_option() {
    let text = text();
    let set: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split('=').next())
        .map(str::trim)
        .collect();
    // The old names of siproxd 0.5-0.7 are tested elsewhere.
    let old = [
        "log_calls",
        "pi_shortdial_enable",
        "pi_shortdial_akey",
        "pi_shortdial_entry",
    ];
    for o in SIPROXD_OPTIONS.iter().filter(|o| !old.contains(&o.name)) {
        assert!(set.contains(&o.name), "{FILE} does not set {}", o.name);
    }
}

#[test]
fn every_option_loads_and_none_is_left_not_implemented() {
    let (cfg, diags) = parse_siproxd_conf(&text(), FILE);
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let not_yet: Vec<_> = diags
        .iter()
        .filter(|d| d.message.contains("not implemented yet") || d.message.contains("sipnat yet"))
        .collect();
    assert!(not_yet.is_empty(), "{not_yet:#?}");
    // What still warns is what sipnat has no use for, each said on its
    // own line of the file: siproxd's daemon and debugging options, the
    // dejitter buffers, the plugins that are not needed.
    let mut warned: Vec<&str> = diags
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| {
            assert!(d.line > 0, "{d:?}");
            let line = text().lines().nth(d.line - 1).unwrap_or("").to_string();
            assert!(
                d.message
                    .contains(line.split('=').next().unwrap_or("").trim())
                    || line.contains("load_plugin"),
                "{d:?} is not about its line {line:?}"
            );
            d.message.as_str()
        })
        .collect();
    warned.sort();
    eprintln!("{warned:#?}");
    // Each plugin line switched its plugin on.
    assert!(cfg.blacklist && cfg.codecfilter && cfg.defaulttarget && cfg.fix_bogus_via);
    assert!(cfg.logcall && cfg.prefix && cfg.shortdial && cfg.stats && cfg.stripheader && cfg.stun);
    assert!(cfg.regex && cfg.regex_body && cfg.siptrunk && cfg.fix_dtag);
    // ... and their options are in force, siproxd's values as written
    assert_eq!(cfg.regex_rules.len(), 1);
    assert_eq!(cfg.regex_body_rules.len(), 1);
    assert_eq!(cfg.siptrunks.len(), 1);
    assert_eq!(
        cfg.mask_hosts,
        [("192.168.1.1".to_string(), "sip.home.example".to_string())]
    );
    assert_eq!(cfg.codec_blacklist, ["G729", "GSM"]);
    assert_eq!(cfg.shortdial_entries.len(), 2);
}
