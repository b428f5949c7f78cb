//! The real binary's test harness, shared by tests/binary.rs and
//! tests/binary_status.rs: a per-test directory, a loopback-only
//! configuration, a daemon started in the foreground with its log, and one
//! SIP request sent to it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sipnat")
}

/// A per-test work directory, removed when the test ends (pass or fail:
/// a failing assertion prints the log it needs).
pub struct TmpDir(pub PathBuf);

impl std::ops::Deref for TmpDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn tmp(name: &str) -> TmpDir {
    let d = std::env::temp_dir().join(format!("sipnat-bin-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TmpDir(d)
}

pub fn is_root() -> bool {
    // SAFETY-free check: /proc/self/status Uid line.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A loopback-only configuration on its own ports.
pub fn loopback_conf(dir: &Path, sip_port: u16, rtp_low: u16, extra: &str) -> PathBuf {
    let p = dir.join("sipnat.conf");
    std::fs::write(
        &p,
        format!(
            "if_inbound = lo\nif_outbound = lo\nhost_outbound = 127.0.0.1\n\
             sip_listen_port = {sip_port}\nrtp_port_low = {rtp_low}\nrtp_port_high = {}\n\
             registration_file = {}\n{extra}",
            rtp_low + 9,
            dir.join("regs/registrations").display()
        ),
    )
    .unwrap();
    p
}

pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(conf: &Path, dir: &Path) -> Daemon {
        Daemon::start_with(conf, dir, &[])
    }

    /// With more command-line arguments after `-c FILE`.
    pub fn start_with(conf: &Path, dir: &Path, extra: &[&str]) -> Daemon {
        Daemon::spawn(&["-f", "-d", "1", "-c"], conf, dir, extra)
    }

    /// Without `-d`: the log level is the file's.
    pub fn start_at_file_level(conf: &Path, dir: &Path) -> Daemon {
        Daemon::spawn(&["-f", "-c"], conf, dir, &[])
    }

    fn spawn(args: &[&str], conf: &Path, dir: &Path, extra: &[&str]) -> Daemon {
        let log = dir.join("log");
        let f = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin())
            .args(args)
            .arg(conf)
            .args(extra)
            .stderr(f)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn wait_log(&self, needle: &str) -> String {
        let t0 = Instant::now();
        loop {
            let text = self.log_text();
            if text.contains(needle) {
                return text;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "no {needle:?} in log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    pub fn stop(mut self) -> (Option<i32>, String) {
        self.signal("TERM");
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return (st.code(), self.log_text());
            }
            if t0.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                panic!("sipnat did not stop on SIGTERM:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send one SIP datagram to the daemon and wait for the answer.
pub fn ask(port: u16, msg: &str) -> String {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.send_to(msg.as_bytes(), ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = s.recv_from(&mut buf).expect("no answer from sipnat");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

pub fn register_local(port: u16, user: &str) -> String {
    format!(
        "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{user}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{user}@127.0.0.1>;tag=1\r\nTo: <sip:{user}@127.0.0.1>\r\n\
         Call-ID: {user}-reg\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:5999>;expires=600\r\n\
         Content-Length: 0\r\n\r\n"
    )
}
