//! The benchmark's own tests (issue 5).
//!
//! * The unit tests of `bench_core` (packet stamp, latency histogram,
//!   sequence tracker, /proc and sipp parsing, JSON, tables, SVG) run here:
//!   the module is included below.
//! * A smoke run of `sipnat-bench` (`tests/tools/sipnat_bench.rs`, a cargo
//!   example): a media run with a few calls through sipnat and through the
//!   null relay, short sipp call-setup runs over UDP and over TCP, and 300
//!   calls while `status json` is asked 100 times a second on sipnat's
//!   control socket (no packet may be lost, no query fail), sipnat idle
//!   with the relay range 10000-59999 (it starts; only its spare pairs are
//!   sockets, issue 15), and 2 calls with `--kernel-forward` (the router
//!   forwards IP, so sipnat hands both streams to the kernel before the
//!   window and relays nothing itself in it, losing nothing), in network
//!   namespaces.
//!   The media run sends 70 REGISTERs first, more than one LAN address may
//!   hold in sipnat (64), so they must come from three addresses.
//!   It checks that every run is reported and consistent (packets arrived,
//!   none lost, no failed call, ordered percentiles, a ratio to the null
//!   relay, sipp's calls all successful, over TCP no retransmission and
//!   one connection on each side of sipnat, from its `tcp.*` counters) and
//!   that no namespace is left behind. It never asserts a speed: the targets of the issue are measured
//!   by `tests/bench/run`, not tested.
//!   With `--features tls` (issue 17) it also runs the setup over TLS
//!   toward the far end (one TLS connection, one handshake, for all 40
//!   calls) and the tls mode with 4 TLS phones, 20 handshakes (every one
//!   accepted and completed) and 20 REGISTERs toward a far end that closes
//!   the connection after each (sipnat dials again), a few seconds more.
//!
//! The smoke test needs root, `ip netns`, `ss` and sipp; without them it
//! FAILS saying so, unless `SIPNAT_SKIP_NETNS=1`, which skips it (like
//! `tests/netns_media.rs`). It builds the example itself when it is missing
//! or stale (see [`bench_tool`]).

#[path = "tools/bench_core.rs"]
mod bench_core;
#[path = "tools/load_core.rs"]
mod load_core;

use load_core::Json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn skip_allowed() -> bool {
    std::env::var("SIPNAT_SKIP_NETNS").is_ok_and(|v| v == "1")
}

fn sh(cmd: &str, args: &[&str]) -> Option<Output> {
    Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()
}

/// Why this machine cannot run the smoke test, if it cannot.
fn environment_problem() -> Option<String> {
    let uid = sh("id", &["-u"]).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref() != Some("0") {
        return Some("must run as root (network namespaces)".into());
    }
    for tool in ["ip", "ss", "sipp"] {
        let found =
            sh("sh", &["-c", &format!("command -v {tool}")]).is_some_and(|o| o.status.success());
        if !found {
            return Some(format!(
                "'{tool}' not found (tests/setup-deps.sh installs iproute2 and sip-tester)"
            ));
        }
    }
    let probe = format!("snp-bench{:x}", std::process::id());
    let ok = sh("ip", &["netns", "add", &probe]).is_some_and(|o| o.status.success());
    let _ = sh("ip", &["netns", "del", &probe]);
    if !ok {
        return Some("'ip netns add' does not work here".into());
    }
    None
}

/// The benchmark tool next to this test: <target>/<profile>/deps/<test> →
/// <target>/<profile>/examples/sipnat-bench, built with cargo into this
/// test's own target directory and profile first (a no-op when fresh;
/// `cargo test --test bench` alone does not build examples).
fn bench_tool() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps");
    let tool = profile_dir.join("examples").join("sipnat-bench");
    let how = "build it with `cargo build --example sipnat-bench` (same profile and target)";
    let target_dir = profile_dir
        .parent()
        .filter(|t| t.join("CACHEDIR.TAG").is_file());
    if let Some(target_dir) = target_dir {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "--example",
            "sipnat-bench",
            "--target-dir",
        ])
        .arg(target_dir)
        .current_dir(manifest());
        if cfg!(feature = "tls") {
            // the TLS far end and phones of the tool need rustls
            cmd.args(["--features", "tls"]);
        }
        match profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
        {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            p => {
                cmd.args(["--profile", p]);
            }
        }
        match cmd.output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "building sipnat-bench failed:\n{}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("cannot run cargo ({e}); using {}", tool.display()),
        }
    }
    assert!(tool.is_file(), "{} not found: {how}", tool.display());
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    for src in [
        "tests/tools/sipnat_bench.rs",
        "tests/tools/bench_core.rs",
        "tests/tools/bench_null.rs",
        "tests/tools/load_core.rs",
        "tests/tools/bench_tls.rs",
    ] {
        assert!(
            modified(&tool) >= modified(&manifest().join(src)),
            "{} is older than {src}: {how}",
            tool.display()
        );
    }
    tool
}

/// Run the tool with `args`; kill it (SIGTERM first, so it cleans up)
/// after `limit`. Returns its output and the namespace ID prefix it used.
fn run_tool(tool: &Path, args: &[&str], limit: Duration) -> (Output, String) {
    let child = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sipnat-bench");
    let pid = child.id();
    // Lab IDs are "b<pid hex>x<n>" (sipnat_bench.rs, Lab::up)
    let prefix = format!("b{pid:x}x");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            let end = Instant::now() + limit;
            while Instant::now() < end {
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = sh("kill", &["-TERM", &pid.to_string()]);
            true
        })
    };
    let out = child.wait_with_output().expect("wait for sipnat-bench");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let timed_out = watchdog.join().unwrap_or(false);
    assert!(
        !timed_out,
        "sipnat-bench {args:?} overstayed {limit:?}; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out, prefix)
}

fn leftover_namespaces(prefix: &str) -> Vec<String> {
    let list = sh("ip", &["netns", "list"])
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| {
            ["snl-", "snr-", "snw-"]
                .iter()
                .any(|r| n.starts_with(&format!("{r}{prefix}")))
        })
        .map(str::to_string)
        .collect()
}

fn report(dir: &Path) -> Json {
    let text = fs::read_to_string(dir.join("results.json"))
        .unwrap_or_else(|e| panic!("{}/results.json: {e}", dir.display()));
    Json::parse(&text).unwrap_or_else(|e| panic!("results.json: {e}\n{text}"))
}

#[test]
fn smoke_media_and_setup() {
    if let Some(why) = environment_problem() {
        if skip_allowed() {
            println!("SKIPPED (SIPNAT_SKIP_NETNS=1): {why}");
            return;
        }
        panic!(
            "the benchmark smoke test cannot run here: {why}\n\
             It needs root, `ip netns`, ss and sipp (tests/setup-deps.sh).\n\
             Set SIPNAT_SKIP_NETNS=1 to skip it on purpose."
        );
    }
    let tool = bench_tool();
    let sipnat = env!("CARGO_BIN_EXE_sipnat");
    let base = std::env::temp_dir().join(format!("sipnat-bench-smoke-{}", std::process::id()));
    let _ = fs::remove_dir_all(&base);
    let (media_dir, setup_dir) = (base.join("media"), base.join("setup"));
    let (m, s) = (
        media_dir.display().to_string(),
        setup_dir.display().to_string(),
    );

    // media: 70 registrations and 4 calls through sipnat, and the same
    // calls through the null relay (which gets no SIP)
    let (out, prefix) = run_tool(
        &tool,
        &[
            "media",
            "--registrations",
            "70",
            "--calls",
            "4",
            "--warmup-s",
            "1",
            "--measure-s",
            "2",
            "--sipnat",
            sipnat,
            "--out",
            &m,
        ],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        leftover_namespaces(&prefix).is_empty(),
        "namespaces left behind: {:?}",
        leftover_namespaces(&prefix)
    );
    assert!(out.status.success(), "sipnat-bench media failed:\n{stderr}");
    let j = report(&media_dir);
    assert_eq!(j.str_of("meta.failed_runs"), Some(""), "no failed run");
    let runs = j.arr("media");
    let names: Vec<&str> = runs.iter().filter_map(|r| r.str_of("proxy")).collect();
    assert_eq!(names, ["sipnat", "null"], "one run per proxy\n{stderr}");
    for r in runs {
        let name = r.str_of("proxy").unwrap_or("?");
        assert_eq!(r.count("calls"), 4, "{name}");
        assert_eq!(r.count("registrations"), 70, "{name}");
        assert!(r.count("received") > 0, "{name}: nothing received");
        assert_eq!(
            r.count("received"),
            r.count("sent"),
            "{name}: received all sent"
        );
        assert_eq!(r.count("lost"), 0, "{name}: loss");
        assert_eq!(r.count("setup_failed"), 0, "{name}: failed calls\n{stderr}");
        assert_eq!(
            r.count("wrong_source"),
            0,
            "{name}: packets from the wrong relay address"
        );
        let p = |k: &str| r.num(k).unwrap_or_else(|| panic!("{name}: no {k}"));
        assert!(
            p("lat_p50_us") <= p("lat_p99_us")
                && p("lat_p99_us") <= p("lat_p999_us")
                && p("lat_p999_us") <= p("lat_max_us"),
            "{name}: percentiles out of order"
        );
        assert!(p("lat_p50_us") > 0.0, "{name}: no latency measured");
        assert!(p("cpu_s") >= 0.0 && p("delivered_pps") > 0.0, "{name}");
        assert!(r.count("peak_rss_kb") > 0, "{name}: no VmHWM");
        // system-wide CPU: the proxy's and the softirq time of all CPUs
        assert!(p("softirq_s") >= 0.0, "{name}");
        assert!(
            (p("sys_cpu_s") - p("cpu_s") - p("softirq_s")).abs() < 1e-9,
            "{name}: system-wide = proxy + softirq"
        );
        assert!(p("sys_cpu_ns_per_pkt") >= p("cpu_ns_per_pkt"), "{name}");
        assert_eq!(r.get("kernel_forward"), Some(&Json::Bool(false)), "{name}");
        assert_eq!(r.get("kernel_channels"), Some(&Json::Null), "{name}");
    }
    let sip = &runs[0];
    assert!(
        sip.num("ratio_to_null").is_some() && sip.num("sys_ratio_to_null").is_some(),
        "sipnat has ratios to the null relay"
    );
    assert!(sip.count("binary_bytes") > 0, "sipnat's binary size");
    // sipnat's sockets with every call up: SIP over UDP and TCP, a pair per
    // call and the spare pairs (issue 15), each costing kernel memory
    let spares = sipnat::limits::SPARE_PAIRS as u64;
    assert_eq!(
        sip.count("kernel_sockets"),
        2 + 2 * (4 + spares),
        "{stderr}"
    );
    assert!(sip.num("kernel_kb").is_some_and(|k| k > 0.0), "{stderr}");
    let md = fs::read_to_string(media_dir.join("results.md")).expect("results.md");
    assert!(md.contains("| sipnat |") && md.contains("| null |"), "{md}");

    // idle with a siproxd user's 50,000-port range (issue 15): it starts,
    // and binds its spares only; the null relay does not run
    let idle_dir = base.join("idle");
    let (out, prefix) = run_tool(
        &tool,
        &[
            "media",
            "--calls",
            "0",
            "--range",
            "10000-59999",
            "--warmup-s",
            "1",
            "--measure-s",
            "1",
            "--sipnat",
            sipnat,
            "--out",
            &idle_dir.display().to_string(),
        ],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        leftover_namespaces(&prefix).is_empty(),
        "namespaces left behind"
    );
    assert!(out.status.success(), "sipnat-bench idle failed:\n{stderr}");
    let j = report(&idle_dir);
    let runs = j.arr("media");
    assert_eq!(runs.len(), 1, "sipnat alone\n{stderr}");
    let idle = &runs[0];
    assert_eq!(idle.count("calls"), 0);
    assert_eq!(idle.count("kernel_sockets"), 2 + 2 * spares, "{stderr}");
    assert!(idle.count("peak_rss_kb") > 0, "{stderr}");
    println!(
        "sipnat idle, relay range 10000-59999: {} kB peak RSS, {} sockets, {:.0} kB of kernel memory",
        idle.count("peak_rss_kb"),
        idle.count("kernel_sockets"),
        idle.num("kernel_kb").unwrap_or(0.0)
    );

    // kernel forwarding (issue 15): with the router forwarding IP, both
    // calls' streams are in the kernel for the whole window, sipnat relays
    // nothing itself in it, and not one packet is lost to the handover
    let kernel_dir = base.join("kernel");
    let (out, prefix) = run_tool(
        &tool,
        &[
            "media",
            "--calls",
            "2",
            "--kernel-forward",
            "--no-null",
            "--warmup-s",
            "1",
            "--measure-s",
            "1",
            "--sipnat",
            sipnat,
            "--out",
            &kernel_dir.display().to_string(),
        ],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        leftover_namespaces(&prefix).is_empty(),
        "namespaces left behind"
    );
    assert!(
        out.status.success(),
        "sipnat-bench media --kernel-forward failed:\n{stderr}"
    );
    let j = report(&kernel_dir);
    let runs = j.arr("media");
    assert_eq!(runs.len(), 1, "sipnat alone\n{stderr}");
    let k = &runs[0];
    assert_eq!(k.get("kernel_forward"), Some(&Json::Bool(true)));
    assert_eq!(k.count("setup_failed"), 0, "{stderr}");
    assert_eq!(k.count("kernel_channels_start"), 2, "{stderr}");
    assert_eq!(k.count("kernel_channels"), 2, "{stderr}");
    assert_eq!(k.count("kernel_taken_back"), 0, "{stderr}");
    assert_eq!(k.count("kernel_missed"), 0, "{stderr}");
    assert_eq!(k.count("kernel_failed"), 0, "{stderr}");
    assert_eq!(k.num("relayed_in_window"), Some(0.0), "{stderr}");
    assert!(k.count("received") > 0, "{stderr}");
    assert_eq!(k.count("received"), k.count("sent"), "{stderr}");
    assert_eq!(k.count("lost"), 0, "{stderr}");
    assert_eq!(k.count("wrong_source"), 0, "{stderr}");
    let md = fs::read_to_string(kernel_dir.join("results.md")).expect("results.md");
    assert!(md.contains("| in kernel |"), "{md}");

    // setup: sipp, 20 calls/s for 2 s through sipnat, over UDP then TCP
    // (and with the tls feature over TLS toward the far end)
    let all = if cfg!(feature = "tls") {
        "udp,tcp,tls"
    } else {
        "udp,tcp"
    };
    let (out, prefix) = run_tool(
        &tool,
        &[
            "setup",
            "--rate",
            "20",
            "--seconds",
            "2",
            "--transport",
            all,
            "--sipnat",
            sipnat,
            "--out",
            &s,
        ],
        Duration::from_secs(90),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        leftover_namespaces(&prefix).is_empty(),
        "namespaces left behind: {:?}",
        leftover_namespaces(&prefix)
    );
    assert!(out.status.success(), "sipnat-bench setup failed:\n{stderr}");
    let j = report(&setup_dir);
    assert_eq!(j.str_of("meta.failed_runs"), Some(""), "no failed run");
    let runs = j.arr("setup");
    let transports: Vec<&str> = runs.iter().filter_map(|r| r.str_of("transport")).collect();
    assert_eq!(
        transports,
        all.split(',').collect::<Vec<_>>(),
        "one run per transport\n{stderr}"
    );
    for r in runs {
        let t = r.str_of("transport").unwrap_or("?");
        assert_eq!(r.str_of("proxy"), Some("sipnat"));
        assert_eq!(r.count("attempted"), 40, "{t}: 20/s for 2 s");
        assert_eq!(r.count("successful"), r.count("attempted"), "{t}: {stderr}");
        assert_eq!(r.count("failed"), 0, "{t}: {stderr}");
        assert!(r.num("cpu_s").is_some_and(|c| c >= 0.0), "{t}");
        assert!(r.count("peak_rss_kb") > 0, "{t}");
    }
    let tcp = &runs[1];
    // SIPp does not retransmit over TCP.
    assert_eq!(tcp.count("retransmissions"), 0, "{stderr}");
    // sipp -t t1: the phone's one connection, accepted, and sipnat's one
    // to the far end, opened, each kept for all 40 calls.
    let counter = |counters: &str, name: &str| -> u64 {
        let mut words = counters.split_whitespace();
        while let Some(w) = words.next() {
            let v = words.next().and_then(|v| v.parse().ok());
            if w == name {
                return v.unwrap_or(0);
            }
        }
        0
    };
    let counters = tcp.str_of("proxy_tcp").unwrap_or("");
    assert_eq!(
        counter(counters, "tcp.accepted"),
        1,
        "tcp counters: {counters}"
    );
    assert_eq!(
        counter(counters, "tcp.opened"),
        1,
        "tcp counters: {counters}"
    );
    if let Some(tls) = runs.get(2) {
        // the phone over UDP; one TLS connection from sipnat to the far
        // end for all 40 calls, one handshake, nothing over plain TCP
        let counters = tls.str_of("proxy_tcp").unwrap_or("");
        assert_eq!(counter(counters, "tls.opened"), 1, "{counters}");
        assert_eq!(counter(counters, "front.handshakes"), 1, "{counters}");
        assert_eq!(counter(counters, "tcp.opened"), 0, "{counters}");
    }
    assert_eq!(
        runs[0].str_of("proxy_tcp"),
        Some(""),
        "no TCP counters over UDP"
    );
    let md = fs::read_to_string(setup_dir.join("results.md")).expect("results.md");
    assert!(md.contains("| sipnat | tcp |"), "{md}");

    // tls mode (issue 17): 4 TLS phones registered over their own
    // connections, then 20 handshakes one after another
    if cfg!(feature = "tls") {
        let tls_dir = base.join("tls");
        let (out, prefix) = run_tool(
            &tool,
            &[
                "tls",
                "--phones",
                "4",
                "--handshakes",
                "20",
                "--sipnat",
                sipnat,
                "--out",
                &tls_dir.display().to_string(),
            ],
            Duration::from_secs(60),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            leftover_namespaces(&prefix).is_empty(),
            "namespaces left behind"
        );
        assert!(out.status.success(), "sipnat-bench tls failed:\n{stderr}");
        let j = report(&tls_dir);
        let r = &j.arr("tls")[0];
        assert_eq!(r.count("phones"), 4);
        assert_eq!(r.count("handshakes"), 20);
        assert!(r.count("idle_rss_kb") > 0 && r.count("phones_rss_kb") > 0);
        assert!(r.num("cpu_us_per_handshake").is_some_and(|c| c > 0.0));
        let counters = r.str_of("counters").unwrap_or("");
        assert_eq!(counter(counters, "tls.accepted"), 24, "{counters}");
        assert_eq!(
            counter(counters, "tls.handshake-ok"),
            counter(counters, "tls.accepted") + counter(counters, "tls.opened"),
            "{counters}"
        );
        // the provider side: 20 REGISTERs, the far end closing after each
        // 200, so sipnat dialled again for the 19 after the first
        assert_eq!(r.count("registers"), 20);
        assert!(r.count("redial_handshakes") >= 19, "{stderr}");
        assert!(counter(counters, "tls.opened") >= 20, "{counters}");
        let md = fs::read_to_string(tls_dir.join("results.md")).expect("results.md");
        assert!(md.contains("## TLS connections"), "{md}");
    }

    // The control socket under load (issue 13): `status json` 100 times a
    // second while 300 calls relay RTP both ways. Every query answered
    // with a status object, every call up, not one packet lost. (In this
    // test function, not a test of its own: the load must not share the
    // CPUs with the runs above.)
    let status_dir = base.join("status");
    let (out, prefix) = run_tool(
        &tool,
        &[
            "media",
            "--calls",
            "300",
            "--no-null",
            "--status-rate",
            "100",
            "--warmup-s",
            "1",
            "--measure-s",
            "2",
            "--sipnat",
            sipnat,
            "--out",
            &status_dir.display().to_string(),
        ],
        Duration::from_secs(90),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        leftover_namespaces(&prefix).is_empty(),
        "namespaces left behind"
    );
    assert!(
        out.status.success(),
        "sipnat-bench media --status-rate failed:\n{stderr}"
    );
    let j = report(&status_dir);
    let r = &j.arr("media")[0];
    assert_eq!(r.count("setup_failed"), 0, "{stderr}");
    assert_eq!(r.count("calls"), 300);
    assert!(
        r.count("status_queries") > 0,
        "no status answered\n{stderr}"
    );
    assert_eq!(
        r.count("status_failed"),
        0,
        "status queries failed\n{stderr}"
    );
    assert_eq!(
        r.count("lost"),
        0,
        "RTP lost while status was asked\n{stderr}"
    );
    assert_eq!(r.count("received"), r.count("sent"));
    println!(
        "status under load: {} answers, slowest {:.1} ms",
        r.count("status_queries"),
        r.num("status_max_ms").unwrap_or(0.0)
    );
    let _ = fs::remove_dir_all(&base);
}
