//! The files the daemon keeps: the registration file (read with
//! `O_NOFOLLOW` and a size bound, written atomically, loaded all or
//! nothing), its directory (made at start and handed to the unprivileged
//! `user` only when it is sipnat's own), and the pid file.
//!
//! It does not decide what a registration file contains (the core renders
//! and parses it) or when it is saved (the daemon's autosave and the
//! registration changes decide).

use super::{sys, unix_now};
use crate::config::Config;
use crate::core::Core;
use crate::dns::parse_resolv_conf;
use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Write `text` to `path` atomically, with permissions `mode`: a temporary
/// file `<path>.tmp` in the same directory, fsync, rename over the old one,
/// fsync the directory. Readers see the old file or the new one, never half.
///
/// The temporary file is created with `O_CREAT | O_EXCL | O_NOFOLLOW` and
/// `mode` (the registration file holds the token key: 0600), so a link or
/// file someone else put at that name is never written through. A
/// temporary file left by a crash is removed first, but only when it is a
/// regular file owned by this process's user; anything else there is an
/// error and nothing is written. The rename replaces `path` itself, never
/// a file a symbolic link at `path` points to.
pub fn write_atomically(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_dirs(dir, 0o777)?;
    let mut tmp = PathBuf::from(path);
    tmp.as_mut_os_string().push(".tmp");
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
    };
    let mut f = match create() {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let m = std::fs::symlink_metadata(&tmp)?;
            if !m.file_type().is_file() || m.uid() != sys::effective_uid() {
                return Err(std::io::Error::new(
                    ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and is not a file of ours; not writing through it",
                        tmp.display()
                    ),
                ));
            }
            std::fs::remove_file(&tmp)?;
            create()?
        }
        Err(e) => return Err(e),
    };
    let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Mode of the registration file (it holds the token key).
pub const REGISTRATION_FILE_MODE: u32 = 0o600;
/// Largest registration file sipnat reads: a full table of the longest
/// entries is about 512 × 350 bytes; anything much larger was not written
/// by sipnat.
pub const MAX_REGISTRATION_FILE: u64 = 1 << 20;

/// Read the registration file: a regular file, not through a symbolic link
/// (`O_NOFOLLOW`), at most [`MAX_REGISTRATION_FILE`] bytes of UTF-8.
/// `Ok(None)` when there is none.
pub fn read_registration_file(path: &Path) -> Result<Option<String>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err("is a symbolic link; not read".into());
        }
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    if !f.metadata().is_ok_and(|m| m.file_type().is_file()) {
        return Err("is not a regular file; not read".into());
    }
    let bytes = crate::config::read_all(f, MAX_REGISTRATION_FILE + 1)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_REGISTRATION_FILE {
        return Err(format!(
            "larger than {MAX_REGISTRATION_FILE} bytes; not a registration file"
        ));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()))
}

/// Restore the registrations saved in `path`, all or nothing. A file that
/// cannot be used is reported once (file and line), nothing of it is
/// loaded, the daemon runs on with an empty table and the key it generated,
/// and a copy is kept as `<path>.bad` (the next save replaces `path`
/// itself; the copy is what is left to look at).
pub(super) fn load_registration_file(core: &mut Core, path: &Path, now: Instant) {
    let problem = match read_registration_file(path) {
        Ok(None) => return,
        Ok(Some(text)) => match core.load_registrations(now, unix_now(), &text) {
            Ok(n) => {
                log::info!("restored {n} registrations from {}", path.display());
                return;
            }
            Err(e) => {
                let mut bad = PathBuf::from(path);
                bad.as_mut_os_string().push(".bad");
                let kept = match write_atomically(&bad, &text, REGISTRATION_FILE_MODE) {
                    Ok(()) => format!("a copy is kept as {}", bad.display()),
                    Err(c) => format!("no copy kept ({}: {c})", bad.display()),
                };
                format!("{e}; loaded nothing from it, {kept}")
            }
        },
        Err(e) => {
            core.stats_mut().bump("registration-file", "rejected");
            format!("{e}; loaded nothing from it")
        }
    };
    log::warn!(
        "registration file {}: {problem}; starting with no registrations",
        path.display()
    );
}

/// The directory the registration file lives in (`.` for a bare name).
pub(super) fn registration_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Make the registration file's directory when it does not exist yet
/// (0755, parents too, so the unprivileged user can reach it; the file
/// itself is 0600); true when sipnat made it now.
pub(super) fn create_registration_dir(path: &Path) -> bool {
    let dir = registration_dir(path);
    std::fs::symlink_metadata(dir).is_err() && create_dirs(dir, 0o755).is_ok()
}

/// `mkdir -p`: `dir` and the parents it lacks, each made with `mode`
/// (less the umask); fine when it is a directory already. What
/// `DirBuilder::recursive(true)` does, written out: std's version tests
/// for the empty path with a component-by-component path comparison
/// (1.4 KB of MIPS code with what it pulls in).
fn create_dirs(dir: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let mkdir = |d: &Path| std::fs::DirBuilder::new().mode(mode).create(d);
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    match mkdir(dir) {
        Ok(()) => return Ok(()),
        // a parent is missing: make the parents, then try again
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return if dir.is_dir() { Ok(()) } else { Err(e) },
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent, mode)?;
    }
    match mkdir(dir) {
        Err(e) if !dir.is_dir() => Err(e),
        _ => Ok(()),
    }
}

/// Is `dir` a directory sipnat may give to its unprivileged `user`? Only
/// one that is sipnat's own: a real directory (not a symbolic link) that
/// sipnat has just made itself (`created`), or whose name starts with
/// `sipnat` (`/var/lib/sipnat`, which the init script makes;
/// `/var/lib/sipnat-office`). Never any other existing directory: with
/// `registration_file = /etc/regs`, handing over the file's directory
/// would give `/etc` to `user`.
pub fn own_directory(dir: &Path, created: bool) -> Result<(), &'static str> {
    let m = std::fs::symlink_metadata(dir).map_err(|_| "it does not exist")?;
    if m.file_type().is_symlink() {
        return Err("it is a symbolic link");
    }
    if !m.is_dir() {
        return Err("it is not a directory");
    }
    let named = dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("sipnat"));
    if created || named {
        Ok(())
    } else {
        Err(
            "it is not sipnat's own directory (sipnat did not make it and its name does not start with 'sipnat')",
        )
    }
}

/// Before the privilege drop: give the registration file's directory to
/// `user` so the unprivileged daemon can still save there, when
/// [`own_directory`] allows it. Otherwise the directory stays as it is, a
/// warning says why (saving will fail unless `user` may write there) and
/// `privileges.directory-kept` counts it.
pub(super) fn hand_over_registration_dir(core: &mut Core, path: &Path, user: &str, created: bool) {
    use std::os::unix::fs::MetadataExt;
    // An unknown user: drop_privileges reports it and sipnat stops.
    let Some((uid, gid)) = sys::user_ids(user) else {
        return;
    };
    let dir = registration_dir(path);
    let owned = std::fs::symlink_metadata(dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.gid() == gid);
    if owned {
        return;
    }
    match own_directory(dir, created) {
        Ok(()) => {
            if let Err(e) = sys::chown_directory(dir, uid, gid) {
                log::warn!("cannot give {} to {user}: {e}", dir.display());
            }
        }
        Err(why) => {
            core.stats_mut().bump("privileges", "directory-kept");
            log::warn!(
                "not giving {} to {user}: {why}; after the switch to {user} the registrations can be saved there only if {user} may write it (registration_file in /var/lib/sipnat/ is sipnat's own)",
                dir.display()
            );
        }
    }
}

/// At start: make the registration file's directory if needed, load the
/// file, remove a temporary file a crash left. True when sipnat made the
/// directory now.
pub(super) fn start_registrations(core: &mut Core, path: &Path, now: Instant) -> bool {
    // Before anything writes there (the `.bad` copy): whether sipnat
    // makes the registration directory itself decides whether it may
    // give it to `user` later.
    let created = create_registration_dir(path);
    load_registration_file(core, path, now);
    remove_stale_temporary(path);
    created
}

/// Remove `<path>.tmp` when a crash left it behind as a regular file: at
/// start sipnat may still be root, and a leftover root-owned temporary
/// file would keep the unprivileged daemon from ever saving
/// ([`write_atomically`] refuses a temporary file that is not its own).
pub(super) fn remove_stale_temporary(path: &Path) {
    let mut tmp = PathBuf::from(path);
    tmp.as_mut_os_string().push(".tmp");
    if std::fs::symlink_metadata(&tmp).is_ok_and(|m| m.file_type().is_file()) {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Write the pid file (siproxd's `-p`/`pid_file`): 0644, as daemons'
/// pid files are, through the same writer (no link followed).
pub fn write_pid_file(path: &Path) -> std::io::Result<()> {
    write_atomically(path, &format!("{}\n", std::process::id()), 0o644)
}

/// The password file of `proxy_auth_pwfile`, parsed for the realm (`None`:
/// none configured). An error names the file and line, never a password.
/// A file other users may read is used, with a warning.
pub fn read_passwords(cfg: &Config) -> Result<Option<crate::auth::Passwords>, String> {
    let (Some(path), Some(realm)) = (&cfg.proxy_auth_pwfile, &cfg.proxy_auth_realm) else {
        return Ok(None);
    };
    let text = crate::config::read_text(path)
        .map_err(|e| format!("proxy_auth_pwfile {}: {e}", path.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o004 != 0 {
            log::warn!(
                "proxy_auth_pwfile {}: every user may read it; chmod 640 (group sipnat) or 600",
                path.display()
            );
        }
    }
    let parsed = crate::auth::pwfile::parse(&text, realm);
    let mut text = text.into_bytes();
    crate::auth::pwfile::wipe(&mut text);
    parsed
        .map(Some)
        .map_err(|e| format!("{}:{}: {}", path.display(), e.line, e.what))
}

/// Where OpenWrt and Debian keep the nameservers, in order of preference.
pub(super) const RESOLV_CONF: [&str; 3] = [
    "/tmp/resolv.conf.d/resolv.conf.auto",
    "/tmp/resolv.conf.auto",
    "/etc/resolv.conf",
];

/// What the files of [`RESOLV_CONF`] look like now: each one's
/// modification time and size, None when it is not there. The refresh
/// reads the nameservers again only when this changes (one `stat` per file
/// every 5 s instead of reading and parsing them: issue 15's short passes).
pub(super) type ResolvStamp = [Option<(std::time::SystemTime, u64)>; 3];

pub(super) fn resolv_stamp() -> ResolvStamp {
    stamp(RESOLV_CONF)
}

/// [`resolv_stamp`] of these files.
pub(super) fn stamp(paths: [&str; 3]) -> ResolvStamp {
    paths.map(|p| {
        let m = std::fs::metadata(p).ok()?;
        Some((m.modified().ok()?, m.len()))
    })
}

/// The nameservers of the first of [`RESOLV_CONF`] that names any.
pub(super) fn read_nameservers() -> Vec<SocketAddr> {
    for p in RESOLV_CONF {
        if let Ok(text) = crate::config::read_text(Path::new(p)) {
            let ns = parse_resolv_conf(&text);
            if !ns.is_empty() {
                return ns.into_iter().collect();
            }
        }
    }
    Vec::new()
}
