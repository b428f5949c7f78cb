//! `sipnat status` and `sipnat reload`: the client side of the control
//! socket ([`super::control`]). It finds the instances' sockets, sends one
//! request line to each, and prints what comes back; it never starts or
//! changes a daemon itself.
//!
//! `--json` prints one object, `{"instances": [...]}`, with each answering
//! instance's status object (README "Status", schema 1) and, for one that
//! does not answer, `{"instance": NAME, "error": WHY}` — so a caller (the
//! rpcd plugin, LuCI) always gets the same shape.

use crate::cli::{CONTROL_DIR, Client, Target};
use crate::status::{Json, Section};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the client waits for a daemon.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read (every table full is about 0.5 MB).
const MAX_ANSWER: u64 = 4 << 20;

/// Where the instances' sockets are: `$SIPNAT_CONTROL_DIR`, else
/// [`CONTROL_DIR`] (where the init script puts them).
fn control_dir() -> PathBuf {
    std::env::var_os("SIPNAT_CONTROL_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from(CONTROL_DIR), PathBuf::from)
}

/// The (instance name, socket path) pairs a target names.
fn sockets(target: &Target) -> Result<Vec<(String, PathBuf)>, String> {
    let dir = control_dir();
    let name_of = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string())
    };
    match target {
        Target::Socket(p) => Ok(vec![(name_of(p), p.clone())]),
        Target::Instance(n) => Ok(vec![(n.clone(), dir.join(format!("{n}.sock")))]),
        Target::All => {
            let shown = dir.display();
            let list = std::fs::read_dir(&dir)
                .map_err(|e| format!("no sipnat instance is running ({shown}: {e})"))?;
            let mut v: Vec<(String, PathBuf)> = list
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "sock"))
                .map(|p| (name_of(&p), p))
                .collect();
            // By name; a handful of entries: insertion sort (the standard
            // sorts cost about 5 KB of the MIPS binary).
            for i in 1..v.len() {
                let mut j = i;
                while j > 0 && v[j - 1].0 > v[j].0 {
                    v.swap(j - 1, j);
                    j -= 1;
                }
            }
            Ok(v)
        }
    }
}

/// Send `request` to the daemon on `path`; its answer, or why there is none.
fn ask(path: &Path, request: &str) -> Result<String, String> {
    let mut s = UnixStream::connect(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            format!("not running ({}: {e})", path.display())
        }
        _ => format!("{}: {e}", path.display()),
    })?;
    s.set_read_timeout(Some(TIMEOUT))
        .and_then(|()| s.set_write_timeout(Some(TIMEOUT)))
        .and_then(|()| s.write_all(format!("{request}\n").as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // read as a file: the one reading loop (`config::read_all`)
    let answer = crate::config::read_all(
        std::fs::File::from(std::os::fd::OwnedFd::from(s)),
        MAX_ANSWER,
    )
    .and_then(|b| String::from_utf8(b).map_err(|_| crate::config::not_utf8()))
    .map_err(|e| format!("{}: no answer: {e}", path.display()))?;
    if answer.is_empty() {
        return Err(format!("{}: empty answer", path.display()));
    }
    match answer.strip_prefix("error: ") {
        Some(e) => Err(e.trim_end().to_string()),
        None => Ok(answer),
    }
}

/// Run a client command; the process exit code (0: at least one instance
/// answered, 1: none did).
pub fn run(program: &str, c: &Client) -> i32 {
    let (target, request) = match c {
        Client::Status {
            json,
            section,
            target,
        } => {
            let mut r = String::from("status");
            if *json {
                r.push_str(" json");
            }
            match section {
                Section::All => {}
                Section::Registrations => r.push_str(" registrations"),
                Section::Calls => r.push_str(" calls"),
            }
            (target, r)
        }
        Client::Reload(target) => (target, "reload".to_string()),
    };
    let json = matches!(c, Client::Status { json: true, .. });
    let found = match sockets(target) {
        Ok(v) => v,
        Err(e) => {
            if json {
                println!("{{\"instances\":[]}}");
            }
            eprintln!("{program}: {e}");
            return 1;
        }
    };
    if found.is_empty() {
        if json {
            println!("{{\"instances\":[]}}");
        }
        eprintln!(
            "{program}: no sipnat instance is running (no control socket in {})",
            control_dir().display()
        );
        return 1;
    }
    let answers: Vec<(String, Result<String, String>)> = found
        .into_iter()
        .map(|(name, path)| {
            let a = ask(&path, &request);
            (name, a)
        })
        .collect();
    let ok = answers.iter().any(|(_, a)| a.is_ok());
    if json {
        println!("{}", instances_json(&answers));
    } else {
        let many = answers.len() > 1;
        for (name, a) in &answers {
            match a {
                Ok(text) if matches!(c, Client::Reload(_)) => {
                    println!("{name}: {}", text.trim_end())
                }
                Ok(text) => {
                    if many {
                        println!("== {name} ==");
                    }
                    print!("{text}");
                    if many {
                        println!();
                    }
                }
                Err(e) => eprintln!("{program}: {name}: {e}"),
            }
        }
    }
    if ok { 0 } else { 1 }
}

/// `{"instances":[...]}` from each instance's answer (a JSON object) or
/// error.
fn instances_json(answers: &[(String, Result<String, String>)]) -> String {
    let mut out = String::from("{\"instances\":[");
    for (i, (name, a)) in answers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match a {
            Ok(obj) => out.push_str(obj.trim_end()),
            Err(e) => {
                let mut j = Json::new(&mut out);
                j.begin_object();
                j.field_str("instance", name);
                j.field_str("error", e);
                j.end_object();
            }
        }
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_json_has_one_shape() {
        let a = vec![
            (
                "a".to_string(),
                Ok("{\"schema\":1,\"instance\":\"a\"}\n".to_string()),
            ),
            ("b".to_string(), Err("not running (\"x\")".to_string())),
        ];
        assert_eq!(
            instances_json(&a),
            r#"{"instances":[{"schema":1,"instance":"a"},{"instance":"b","error":"not running (\"x\")"}]}"#
        );
        assert_eq!(instances_json(&[]), r#"{"instances":[]}"#);
    }

    #[test]
    fn a_named_instance_stays_in_the_control_directory() {
        let v = sockets(&Target::Instance("general".into())).unwrap();
        assert_eq!(
            v,
            vec![(
                "general".to_string(),
                PathBuf::from("/var/run/sipnat/general.sock")
            )]
        );
    }
}
