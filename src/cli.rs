//! The command line, compatible with siproxd's, and the last configuration
//! layer (DESIGN.md rule 12: defaults → file → command line).
//!
//! siproxd's options: `-c/--config FILE`, `-d/--debug LEVEL`,
//! `-p/--pid-file FILE`, `-h/--help`. sipnat adds `-f/--foreground`,
//! `--check-config`, `-V/--version`, `-s/--section SECTION` (the UCI section
//! to read: a name or `@sipnat[N]`; default the first `sipnat` section) and
//! `--if-inbound DEV`/`--if-outbound DEV`.
//!
//! `--if-inbound`/`--if-outbound` exist for OpenWrt's init script: a UCI
//! section names its networks logically (`option interface_inbound 'lan'`),
//! which only netifd can turn into a device. The init script resolves them
//! (`network_get_device`) and passes the devices with these options, which
//! override `if_inbound`/`if_outbound` like every command-line option
//! overrides the file. (OpenWrt's siproxd package lets an explicit
//! `if_inbound` win over `interface_inbound`; the init script keeps that rule
//! by passing `--if-inbound` only for a section without `if_inbound`.)
//!
//! This module does NOT read files itself ([`load_config`] hands the file
//! to `config`), print, or exit: it returns a [`Command`] and leaves the
//! doing to `main`.

use crate::config::{Config, Diagnostic};
use std::path::PathBuf;

/// Configuration file used when `-c` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/sipnat.conf";

/// Options that affect a run (or a configuration check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `-c FILE`; default [`DEFAULT_CONFIG`].
    pub config: PathBuf,
    /// `-d LEVEL`: siproxd debug class mask, overrides `debug_level`.
    pub debug: Option<u32>,
    /// `-p FILE`: overrides `pid_file`.
    pub pid_file: Option<PathBuf>,
    /// `-f`: stay in the foreground whatever `daemonize` says.
    pub foreground: bool,
    /// `-s SECTION`: the UCI section to read (name or `@sipnat[N]`).
    pub section: Option<String>,
    /// `--if-inbound DEV`: overrides `if_inbound` (the init script's
    /// resolution of `interface_inbound`).
    pub if_inbound: Option<String>,
    /// `--if-outbound DEV`: overrides `if_outbound`.
    pub if_outbound: Option<String>,
    /// `--control PATH`: the control socket to listen on (`sipnat status`).
    pub control: Option<PathBuf>,
}

/// Where the init script puts the control sockets, one per instance
/// (`<instance>.sock`), and where `sipnat status` looks for them.
pub const CONTROL_DIR: &str = "/var/run/sipnat";

/// Which running instances `sipnat status` / `sipnat reload` ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `--control PATH`.
    Socket(PathBuf),
    /// `-s NAME`: `CONTROL_DIR/NAME.sock`.
    Instance(String),
    /// Every socket in [`CONTROL_DIR`].
    All,
}

/// `sipnat status` and `sipnat reload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    Status {
        json: bool,
        section: crate::status::Section,
        target: Target,
    },
    Reload(Target),
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the proxy.
    Run(Options),
    /// `--check-config`: load and check the configuration, report, exit.
    CheckConfig(Options),
    /// `-h`: print this usage text (to stdout) and exit successfully.
    Help(String),
    /// `-V`: print [`version_text`] and exit successfully.
    Version,
    /// Ask running instances through their control sockets.
    Client(Client),
}

/// One option of a command line: what getopts' `optopt` (`value`) or
/// `optflag` declared.
struct Opt {
    /// The one-letter name (`-c`), if any.
    short: Option<char>,
    /// The long name (`--config`).
    long: &'static str,
    /// Whether it takes a value.
    value: bool,
}

const fn opt(short: Option<char>, long: &'static str, value: bool) -> Opt {
    Opt { short, long, value }
}

/// The command line (descriptions are in `options_help!`).
const SPEC: [Opt; 11] = [
    opt(Some('c'), "config", true),
    opt(Some('d'), "debug", true),
    opt(Some('p'), "pid-file", true),
    opt(Some('f'), "foreground", false),
    opt(None, "check-config", false),
    opt(Some('s'), "section", true),
    opt(None, "if-inbound", true),
    opt(None, "if-outbound", true),
    opt(None, "control", true),
    opt(Some('V'), "version", false),
    opt(Some('h'), "help", false),
];

/// `sipnat status` and `sipnat reload`'s options.
const CLIENT_SPEC: [Opt; 3] = [
    opt(None, "json", false),
    opt(Some('s'), "section", true),
    opt(None, "control", true),
];

/// A command line parsed by [`getopt`].
struct Matches<'a> {
    spec: &'a [Opt],
    /// Each option's first value (a flag's: empty), `None` when not given.
    vals: Vec<Option<String>>,
    /// The arguments that are not options, in order.
    free: Vec<String>,
}

impl Matches<'_> {
    /// The option named `name` (its letter or its long name): getopts'
    /// `opt_str`, and `Some("")` for a flag given.
    fn opt_str(&self, name: &str) -> Option<String> {
        let i = find(self.spec, name)?;
        self.vals.get(i)?.clone()
    }

    fn opt_present(&self, name: &str) -> bool {
        find(self.spec, name).is_some_and(|i| self.vals.get(i).is_some_and(Option::is_some))
    }
}

/// The option called `name` on the command line: one character is a
/// letter (so `--c` is `-c`, as getopts has it), more a long name.
fn find(spec: &[Opt], name: &str) -> Option<usize> {
    let mut chars = name.chars();
    let short = match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    };
    spec.iter().position(|o| match short {
        Some(c) => o.short == Some(c),
        None => o.long == name,
    })
}

/// `args` (without the program name) parsed as getopts 0.2 parses them
/// (`Options::parse`, floating free arguments), with its error messages
/// word for word: an option's value inline (`-cFILE`, `--config=FILE`) or
/// the next argument whatever it is; flags grouped (`-fV`); `-` is a free
/// argument, `--` makes the rest free; an option given twice is an error
/// once all are read. getopts itself is ~7 KB of MIPS code (its generic
/// parser, its name and value types) for these two small command lines.
fn getopt<'a>(spec: &'a [Opt], args: &[String]) -> Result<Matches<'a>, String> {
    let mut vals: Vec<Option<String>> = spec.iter().map(|_| None).collect();
    let mut count = vec![0u8; spec.len()];
    let mut free = Vec::new();
    let mut args = args.iter();
    while let Some(cur) = args.next() {
        if cur.len() < 2 || !cur.starts_with('-') {
            free.push(cur.clone());
            continue;
        }
        if cur == "--" {
            free.extend(args.cloned());
            break;
        }
        // The option that may take a value, and the value in this argument.
        let (name, inline) = if let Some(tail) = cur.strip_prefix("--") {
            match tail.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (tail, None),
            }
        } else {
            let mut last = None;
            for (j, ch) in cur.char_indices().skip(1) {
                let n = &cur[j..j + ch.len_utf8()];
                let i = find(spec, n).ok_or_else(|| format!("Unrecognized option: '{n}'"))?;
                if spec[i].value {
                    let rest = &cur[j + ch.len_utf8()..];
                    last = Some((n, (!rest.is_empty()).then_some(rest)));
                    break;
                }
                vals[i].get_or_insert_with(String::new);
                count[i] = count[i].saturating_add(1);
            }
            match last {
                Some(l) => l,
                None => continue,
            }
        };
        let i = find(spec, name).ok_or_else(|| format!("Unrecognized option: '{name}'"))?;
        let v = if spec[i].value {
            match inline {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| format!("Argument to option '{name}' missing"))?,
            }
        } else if inline.is_some() {
            return Err(format!("Option '{name}' does not take an argument"));
        } else {
            ""
        };
        vals[i].get_or_insert_with(|| v.to_string());
        count[i] = count[i].saturating_add(1);
    }
    if let Some(o) = spec.iter().zip(&count).find(|(_, n)| **n > 1) {
        return Err(format!("Option '{}' given more than once", o.0.long));
    }
    Ok(Matches { spec, vals, free })
}

/// The program's name as invoked (for messages).
pub fn program_name(args: &[String]) -> String {
    args.first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "sipnat".to_string())
}

/// The options of [`SPEC`] as `-h` shows them, written out: getopts' own
/// formatter pulls in Unicode width tables (about 10 KB of the MIPS
/// binary) to align these few ASCII lines. A test checks that every
/// option of `SPEC` is here. A macro, so that it is [`usage`]'s format
/// string (`{DEFAULT_CONFIG}`, `{CONTROL_DIR}` filled in as it is
/// written, no searching and replacing).
macro_rules! options_help {
    () => {
        "\
Options:
    -c, --config FILE   read the configuration from FILE (default {DEFAULT_CONFIG})
    -d, --debug LEVEL   siproxd debug class mask (decimal or 0x hex; -1: all),
                        overrides debug_level
    -p, --pid-file FILE write the process id to FILE, overrides pid_file
    -f, --foreground    stay in the foreground (ignore daemonize)
        --check-config  check the configuration, report problems and exit
    -s, --section SECTION
                        UCI section to read: a name or @sipnat[N] (default:
                        the first sipnat section)
        --if-inbound DEV
                        LAN device, overrides if_inbound (the init script
                        passes interface_inbound resolved)
        --if-outbound DEV
                        WAN device, overrides if_outbound (the init script
                        passes interface_outbound resolved)
        --control PATH  listen for sipnat status/reload on this Unix socket
                        (the init script passes {CONTROL_DIR}/INSTANCE.sock)
    -V, --version       print the version and exit
    -h, --help          print this help and exit

Commands to a running sipnat (through its control socket):
    status [--json] [-s INSTANCE | --control PATH] [registrations|calls]
                        registrations, calls, relay, counters, DNS cache of
                        every instance in {CONTROL_DIR} (or $SIPNAT_CONTROL_DIR;
                        -s: the one named);
                        --json: {{\"instances\": [...]}}, schema in the README
    reload [-s INSTANCE | --control PATH]
                        re-read the configuration (as SIGHUP does)
"
    };
}

/// The usage text for `-h`.
pub fn usage(program: &str) -> String {
    format!(
        concat!(
            "Usage: {program} [options]\n\nSIP/RTP NAT-traversal proxy (a siproxd replacement). \
The configuration file uses siproxd.conf syntax, or UCI syntax (/etc/config/sipnat) \
with siproxd's option names; the syntax is detected.\n\n",
            options_help!()
        ),
        program = program,
        DEFAULT_CONFIG = DEFAULT_CONFIG,
        CONTROL_DIR = CONTROL_DIR,
    )
}

/// `sipnat <version>` for `-V`.
pub fn version_text() -> String {
    format!("sipnat {}", env!("CARGO_PKG_VERSION"))
}

/// Parse a debug level like siproxd's `-d` (decimal; sipnat also takes `0x`
/// hex and negative numbers, `-1` meaning every class): siproxd's `%i`
/// ([`crate::config::parse_int`]) without its `+`.
fn parse_debug(s: &str) -> Option<u32> {
    if s.trim().starts_with('+') {
        return None;
    }
    let v = crate::config::parse_int(s)?;
    if v < i64::from(i32::MIN) || v > i64::from(u32::MAX) {
        return None;
    }
    // checked to fit i32..u32 just above; negatives wrap like C's int → unsigned
    Some(v as u32)
}

/// Parse the command line. `args` is the whole argument vector *including*
/// the program name in `args[0]` (`std::env::args().collect()`), as in the
/// getopts example. `Err` carries a message that ends with a usage hint.
pub fn parse_args(args: &[String]) -> Result<Command, String> {
    let program = program_name(args);
    let rest = args.get(1..).unwrap_or(&[]);
    let hint = format!("try '{program} --help'");
    if let Some(cmd @ ("status" | "reload")) = rest.first().map(String::as_str) {
        return parse_client(cmd, &rest[1..], &hint).map(Command::Client);
    }
    let m = getopt(&SPEC, rest).map_err(|e| format!("{e}; {hint}"))?;
    if let Some(extra) = m.free.first() {
        return Err(format!("unexpected argument '{extra}'; {hint}"));
    }
    if m.opt_present("h") {
        return Ok(Command::Help(usage(&program)));
    }
    if m.opt_present("V") {
        return Ok(Command::Version);
    }
    let debug = match m.opt_str("d") {
        None => None,
        Some(d) => Some(parse_debug(&d).ok_or_else(|| {
            format!("-d '{d}': expected a debug class mask (decimal or 0x hex); {hint}")
        })?),
    };
    let non_empty = |o: &str| -> Result<Option<String>, String> {
        match m.opt_str(o) {
            Some(v) if v.is_empty() => {
                let dash = if o.len() == 1 { "-" } else { "--" };
                Err(format!("{dash}{o} needs a non-empty value; {hint}"))
            }
            v => Ok(v),
        }
    };
    let opts = Options {
        config: non_empty("c")?.map_or_else(|| PathBuf::from(DEFAULT_CONFIG), PathBuf::from),
        debug,
        pid_file: non_empty("p")?.map(PathBuf::from),
        foreground: m.opt_present("f"),
        section: non_empty("s")?,
        if_inbound: non_empty("if-inbound")?,
        if_outbound: non_empty("if-outbound")?,
        control: non_empty("control")?.map(PathBuf::from),
    };
    Ok(if m.opt_present("check-config") {
        Command::CheckConfig(opts)
    } else {
        Command::Run(opts)
    })
}

/// `status …` / `reload …` (after the command word).
fn parse_client(cmd: &str, rest: &[String], hint: &str) -> Result<Client, String> {
    let m = getopt(&CLIENT_SPEC, rest).map_err(|e| format!("{cmd}: {e}; {hint}"))?;
    let target = match (m.opt_str("control"), m.opt_str("s")) {
        (Some(_), Some(_)) => {
            return Err(format!("{cmd}: give -s or --control, not both; {hint}"));
        }
        (Some(p), None) if !p.is_empty() => Target::Socket(PathBuf::from(p)),
        (None, Some(n)) if valid_instance(&n) => Target::Instance(n),
        (None, None) => Target::All,
        (Some(_), None) => return Err(format!("{cmd}: --control needs a path; {hint}")),
        (None, Some(n)) => {
            return Err(format!(
                "{cmd}: '{n}' is not an instance name (letters, digits, _ and -); {hint}"
            ));
        }
    };
    if cmd == "reload" {
        if m.opt_present("json") || !m.free.is_empty() {
            return Err(format!("reload takes only -s or --control; {hint}"));
        }
        return Ok(Client::Reload(target));
    }
    let mut section = crate::status::Section::All;
    for w in &m.free {
        section = match crate::status::Section::parse(w) {
            Some(s) if s != crate::status::Section::All => s,
            _ => {
                return Err(format!(
                    "status: unknown part '{w}' (registrations, calls); {hint}"
                ));
            }
        };
    }
    Ok(Client::Status {
        json: m.opt_present("json"),
        section,
        target,
    })
}

/// An instance name: what procd and UCI allow in a section name, so it
/// cannot leave [`CONTROL_DIR`].
fn valid_instance(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Apply command-line overrides on top of the file's config (layer 3):
/// `-d` sets `debug_level`, `-p` sets `pid_file`, `-f` clears `daemonize`,
/// `--if-inbound`/`--if-outbound` set `if_inbound`/`if_outbound`.
/// (siproxd ignored `-d 0`; here an explicit `-d 0` does switch debugging off.)
pub fn apply(opts: &Options, cfg: &mut Config) {
    if let Some(dev) = &opts.if_inbound {
        cfg.if_inbound = Some(dev.clone());
    }
    if let Some(dev) = &opts.if_outbound {
        cfg.if_outbound = Some(dev.clone());
    }
    if let Some(d) = opts.debug {
        cfg.debug_level = d;
    }
    if let Some(p) = &opts.pid_file {
        cfg.pid_file = Some(p.clone());
    }
    if opts.foreground {
        cfg.daemonize = false;
    }
}

/// Load the configuration the command line names (`-c FILE`, `-s SECTION`),
/// with the command line on top ([`apply`]), checked once: what `main` runs
/// and checks, and what a reload (SIGHUP) should read.
pub fn load_config(opts: &Options) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
    crate::config::load_layered(&opts.config, opts.section.as_deref(), |c| apply(opts, c))
}

/// siproxd debug classes that mean "every packet / every function" and so
/// map to `Trace` rather than `Debug`: DBCLASS_BABBLE (0x001) and
/// DBCLASS_NETTRAF (0x080).
const TRACE_CLASSES: u32 = 0x0000_0001 | 0x0000_0080;

/// Map siproxd's two logging knobs to one `log::LevelFilter`:
///
/// | setting | level |
/// |---|---|
/// | `silence_log` 0 or 1 | Info (siproxd logs no debug lines unless `debug_level` enables a class) |
/// | `silence_log` 2 | Warn |
/// | `silence_log` 3 | Error |
/// | `silence_log` ≥ 4 | Off |
/// | `debug_level` ≠ 0 | at least Debug, whatever `silence_log` says (siproxd prints enabled debug classes regardless) |
/// | `debug_level` has BABBLE (0x1) or NETTRAF (0x80) | Trace |
///
/// sipnat's logger has no per-class filter: any enabled class turns on all
/// debug output.
pub fn log_level(cfg: &Config) -> log::LevelFilter {
    use log::LevelFilter;
    let base = match cfg.silence_log {
        0 | 1 => LevelFilter::Info,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Error,
        _ => LevelFilter::Off,
    };
    let debug = if cfg.debug_level & TRACE_CLASSES != 0 {
        LevelFilter::Trace
    } else if cfg.debug_level != 0 {
        LevelFilter::Debug
    } else {
        LevelFilter::Off
    };
    base.max(debug)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`getopt`] against getopts (a dev-dependency) with the same options,
    /// on every command line of up to three words from a pool of the
    /// tricky ones: the same errors word for word, the same values and
    /// free arguments.
    #[test]
    fn getopt_is_getopts() {
        let pool = [
            "x",
            "-c",
            "-cFILE",
            "--config",
            "--config=",
            "--config=a=b",
            "-f",
            "-ff",
            "-fc",
            "-fcx",
            "-fd",
            "-V",
            "-h",
            "-Vh",
            "-",
            "--",
            "--c",
            "--c=y",
            "--f=1",
            "--foreground=1",
            "--check-config",
            "--nope",
            "-z",
            "-fz",
            "--=x",
            "-d",
            "-1",
            "--if-inbound",
            "--control",
            "--json",
            "--json=1",
            "-s",
            "-sA",
            "---x",
            "-\u{e9}",
            "-f\u{e9}",
            "",
        ];
        for spec in [&SPEC[..], &CLIENT_SPEC[..]] {
            let mut g = getopts::Options::new();
            for o in spec {
                let short = o.short.map(String::from).unwrap_or_default();
                match o.value {
                    true => g.optopt(&short, o.long, "", ""),
                    false => g.optflag(&short, o.long, ""),
                };
            }
            let mut lines: Vec<Vec<String>> = vec![vec![]];
            for _ in 0..3 {
                let longer: Vec<Vec<String>> = lines
                    .iter()
                    .filter(|l| l.len() == lines.last().map_or(0, Vec::len))
                    .flat_map(|l| {
                        pool.iter().map(move |w| {
                            let mut l = l.clone();
                            l.push(w.to_string());
                            l
                        })
                    })
                    .collect();
                lines.extend(longer);
            }
            for args in &lines {
                match (getopt(spec, args), g.parse(args)) {
                    (Ok(m), Ok(want)) => {
                        assert_eq!(m.free, want.free, "{args:?}");
                        for o in spec {
                            let names = o.short.map(String::from).into_iter();
                            for n in names.chain([o.long.to_string()]) {
                                assert_eq!(m.opt_present(&n), want.opt_present(&n), "{args:?} {n}");
                                if o.value {
                                    assert_eq!(m.opt_str(&n), want.opt_str(&n), "{args:?} {n}");
                                }
                            }
                        }
                    }
                    (Err(e), Err(want)) => assert_eq!(e, want.to_string(), "{args:?}"),
                    (got, want) => panic!("{args:?}: {:?} {want:?}", got.map(|m| m.free)),
                }
            }
        }
    }

    fn argv(s: &[&str]) -> Vec<String> {
        std::iter::once("sipnat")
            .chain(s.iter().copied())
            .map(String::from)
            .collect()
    }

    fn run(s: &[&str]) -> Options {
        match parse_args(&argv(s)) {
            Ok(Command::Run(o)) => o,
            other => panic!("expected Run for {s:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_without_arguments() {
        let o = run(&[]);
        assert_eq!(o.config, PathBuf::from(DEFAULT_CONFIG));
        assert_eq!(o.debug, None);
        assert_eq!(o.pid_file, None);
        assert!(!o.foreground);
        assert_eq!(o.section, None);
        assert_eq!((o.if_inbound.clone(), o.if_outbound.clone()), (None, None));
        // an empty argv (no program name) behaves the same
        assert_eq!(parse_args(&[]), Ok(Command::Run(o)));
    }

    #[test]
    fn siproxd_compatible_short_and_long_options() {
        let o = run(&[
            "-c",
            "/etc/siproxd.conf",
            "-d",
            "0x100",
            "-p",
            "/var/run/s.pid",
        ]);
        assert_eq!(o.config, PathBuf::from("/etc/siproxd.conf"));
        assert_eq!(o.debug, Some(0x100));
        assert_eq!(o.pid_file, Some(PathBuf::from("/var/run/s.pid")));
        let o = run(&["--config=/x.conf", "--debug", "12", "--pid-file", "/p"]);
        assert_eq!(o.config, PathBuf::from("/x.conf"));
        assert_eq!(o.debug, Some(12));
        assert_eq!(o.pid_file, Some(PathBuf::from("/p")));
        assert_eq!(run(&["-d", "-1"]).debug, Some(u32::MAX));
        assert_eq!(run(&["-d0x0000FFFF"]).debug, Some(0xffff));
        assert_eq!(run(&["-d", " -0x10 "]).debug, Some(0xffff_fff0));
        assert_eq!(run(&["-d", "4294967295"]).debug, Some(u32::MAX));
    }

    #[test]
    fn sipnat_additions() {
        let o = run(&["-f", "-s", "lan2"]);
        assert!(o.foreground);
        assert_eq!(o.section.as_deref(), Some("lan2"));
        assert!(run(&["--foreground"]).foreground);
        match parse_args(&argv(&["--check-config", "-c", "/tmp/a.conf"])) {
            Ok(Command::CheckConfig(o)) => assert_eq!(o.config, PathBuf::from("/tmp/a.conf")),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_args(&argv(&["-V"])), Ok(Command::Version));
        assert_eq!(
            parse_args(&argv(&["--version", "-f"])),
            Ok(Command::Version)
        );
        assert!(version_text().starts_with("sipnat "));
    }

    #[test]
    fn interface_overrides_for_the_init_script() {
        let o = run(&[
            "-c",
            "/etc/config/sipnat",
            "-s",
            "@sipnat[1]",
            "--if-inbound",
            "br-lan",
            "--if-outbound=pppoe-wan",
        ]);
        assert_eq!(o.section.as_deref(), Some("@sipnat[1]"));
        assert_eq!(o.if_inbound.as_deref(), Some("br-lan"));
        assert_eq!(o.if_outbound.as_deref(), Some("pppoe-wan"));
        let mut cfg = Config {
            if_inbound: Some("eth0".into()),
            interface_inbound: Some("lan".into()),
            ..Config::default()
        };
        apply(&o, &mut cfg);
        assert_eq!(
            cfg.if_inbound.as_deref(),
            Some("br-lan"),
            "the command line wins"
        );
        assert_eq!(cfg.if_outbound.as_deref(), Some("pppoe-wan"));
        assert_eq!(
            cfg.interface_inbound.as_deref(),
            Some("lan"),
            "kept for messages"
        );
        // long options only
        assert!(parse_args(&argv(&["-i", "br-lan"])).is_err());
        let e = parse_args(&argv(&["--if-inbound="])).unwrap_err();
        assert!(e.starts_with("--if-inbound needs a non-empty value"), "{e}");
    }

    #[test]
    fn help_wins_and_carries_usage() {
        for a in [&["-h"][..], &["--help", "-V"], &["--check-config", "-h"]] {
            match parse_args(&argv(a)) {
                Ok(Command::Help(u)) => {
                    assert!(u.contains("Usage: sipnat"), "{u}");
                    for flag in [
                        "--config",
                        "--debug",
                        "--pid-file",
                        "--foreground",
                        "--check-config",
                        "--section",
                        "--if-inbound",
                        "--if-outbound",
                        "--version",
                    ] {
                        assert!(u.contains(flag), "usage lacks {flag}");
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        // program name taken from argv[0]'s file name
        let args: Vec<String> = ["/usr/sbin/sipnat-test", "-h"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        match parse_args(&args) {
            Ok(Command::Help(u)) => assert!(u.contains("Usage: sipnat-test [options]"), "{u}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_carry_a_usage_hint() {
        for bad in [
            &["-x"][..],
            &["-c"],
            &["-d", "lots"],
            &["-d", "0x"],
            &["-d", "99999999999"],
            &["-d", "+5"],
            &["-d", "--5"],
            &["-d", "-2147483649"],
            &["stray"],
            &["-c", ""],
            &["-p", ""],
            &["--if-inbound", ""],
            &["--if-outbound"],
            &["-if-inbound", "x"],
        ] {
            let e = parse_args(&argv(bad)).unwrap_err();
            assert!(e.contains("--help"), "{bad:?}: {e}");
        }
        let e = parse_args(&argv(&["stray"])).unwrap_err();
        assert!(e.contains("'stray'"), "{e}");
    }

    #[test]
    fn apply_overrides_the_file() {
        let mut cfg = Config {
            daemonize: true,
            debug_level: 4,
            pid_file: Some("/a".into()),
            ..Config::default()
        };
        let untouched = cfg.clone();
        apply(&run(&[]), &mut cfg);
        assert_eq!(cfg, untouched, "no options, no change");
        apply(&run(&["-f", "-d", "0", "-p", "/b"]), &mut cfg);
        assert!(!cfg.daemonize);
        assert_eq!(cfg.debug_level, 0);
        assert_eq!(cfg.pid_file, Some(PathBuf::from("/b")));
    }

    #[test]
    fn log_level_mapping() {
        use log::LevelFilter::*;
        let lvl = |silence_log, debug_level| {
            log_level(&Config {
                silence_log,
                debug_level,
                ..Config::default()
            })
        };
        assert_eq!(lvl(1, 0), Info, "siproxd defaults");
        assert_eq!(lvl(0, 0), Info);
        assert_eq!(lvl(2, 0), Warn);
        assert_eq!(lvl(3, 0), Error);
        assert_eq!(lvl(4, 0), Off);
        assert_eq!(lvl(9, 0), Off);
        assert_eq!(lvl(3, 0x100), Debug, "any debug class wins over silence");
        assert_eq!(lvl(4, 0x004), Debug);
        assert_eq!(lvl(1, 0x001), Trace, "BABBLE");
        assert_eq!(lvl(1, 0x080), Trace, "NETTRAF");
        assert_eq!(lvl(1, u32::MAX), Trace, "-1 = everything");
    }
}
