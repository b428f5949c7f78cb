use super::files::{create_registration_dir, registration_dir};
use super::*;
use crate::side::Side;
use std::net::Ipv4Addr;
use std::path::Path;

#[test]
fn atomic_write_replaces_whole_file() {
    let dir = std::env::temp_dir().join(format!("sipnat-aw-{}", std::process::id()));
    let p = dir.join("sub/regs");
    write_atomically(&p, "one\n", 0o600).unwrap();
    write_atomically(&p, "two\n", 0o600).unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "two\n");
    assert!(!dir.join("sub/regs.tmp").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_side_is_the_arrival_interface_or_the_address_when_shared() {
    let a = |s: &str| -> crate::net::Addr { s.parse().unwrap() };
    let router = Ingress {
        lan: Some(3),
        lo: Some(1),
        shared: false,
        nets: heapless::Vec::new(),
    };
    // A LAN source arriving on the WAN interface is the WAN (forged).
    assert_eq!(router.side(4, a("10.77.1.2:5060")), Side::Wan);
    assert_eq!(router.side(3, a("10.77.1.2:5060")), Side::Lan);
    // A routed LAN subnet behind the LAN interface is still the LAN.
    assert_eq!(router.side(3, a("192.0.2.7:5060")), Side::Lan);
    assert_eq!(router.side(1, a("127.0.0.1:5060")), Side::Lan);
    // Unknown arrival interface: the WAN.
    assert_eq!(router.side(0, a("10.77.1.2:5060")), Side::Wan);
    // One interface for both sides: the address decides.
    let mut nets = heapless::Vec::new();
    nets.push(
        crate::config::Net4 {
            addr: Ipv4Addr::new(10, 77, 1, 1),
            prefix: 24,
        }
        .into(),
    )
    .unwrap();
    let host = Ingress {
        lan: Some(3),
        lo: Some(1),
        shared: true,
        nets,
    };
    assert_eq!(host.side(3, a("10.77.1.2:5060")), Side::Lan);
    assert_eq!(host.side(3, a("198.51.100.2:5060")), Side::Wan);
    assert_eq!(host.side(1, a("127.0.0.1:5060")), Side::Lan);
    assert_eq!(host.side(5, a("10.77.1.2:5060")), Side::Wan);
    // IPv6 alike: the interface decides; shared, the LAN's IPv6 networks.
    assert_eq!(router.side(3, a("[2001:db8:77:1::2]:5060")), Side::Lan);
    assert_eq!(router.side(4, a("[2001:db8:77:1::2]:5060")), Side::Wan);
    let mut host = host;
    host.nets
        .push(crate::net::Net::V6(crate::net::Net6 {
            addr: "2001:db8:77:1::1".parse().unwrap(),
            prefix: 64,
        }))
        .unwrap();
    assert_eq!(host.side(3, a("[2001:db8:77:1::2]:5060")), Side::Lan);
    assert_eq!(host.side(3, a("[2001:db8:100::2]:5060")), Side::Wan);
    assert_eq!(host.side(1, a("[::1]:5060")), Side::Lan);
    assert_eq!(host.side_of_address("::1".parse().unwrap()), Side::Lan);
    assert_eq!(
        host.side_of_address("2001:db8:77:1::9".parse().unwrap()),
        Side::Lan
    );
}

#[test]
fn atomic_write_makes_0600_and_never_writes_through_a_link() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("sipnat-aw2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("regs");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    // a wide-open old file is replaced by a 0600 one
    std::fs::write(&p, "old\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
    write_atomically(&p, "key 00\n", REGISTRATION_FILE_MODE).unwrap();
    assert_eq!(mode(&p), 0o600);
    // a stale temporary file of ours (a crash mid-write) is replaced
    std::fs::write(dir.join("regs.tmp"), "half").unwrap();
    write_atomically(&p, "new\n", REGISTRATION_FILE_MODE).unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "new\n");
    assert!(!dir.join("regs.tmp").exists());
    // a link at the temporary name is not written through, nor removed
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("regs.tmp")).unwrap();
    let e = write_atomically(&p, "evil\n", REGISTRATION_FILE_MODE).unwrap_err();
    assert!(e.to_string().contains("not a file of ours"), "{e}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "new\n");
    std::fs::remove_file(dir.join("regs.tmp")).unwrap();
    // a link at the final name is replaced, not followed
    std::fs::remove_file(&p).unwrap();
    std::os::unix::fs::symlink(&victim, &p).unwrap();
    write_atomically(&p, "mine\n", REGISTRATION_FILE_MODE).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(
        !std::fs::symlink_metadata(&p)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // the pid file: 0644, same writer
    let pid = dir.join("pid");
    write_pid_file(&pid).unwrap();
    assert_eq!(mode(&pid), 0o644);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn registration_file_reader_refuses_links_and_huge_files() {
    let dir = std::env::temp_dir().join(format!("sipnat-rr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(read_registration_file(&dir.join("none")), Ok(None));
    std::fs::write(dir.join("ok"), "key 00\n").unwrap();
    assert_eq!(
        read_registration_file(&dir.join("ok")),
        Ok(Some("key 00\n".into()))
    );
    std::os::unix::fs::symlink(dir.join("ok"), dir.join("link")).unwrap();
    let e = read_registration_file(&dir.join("link")).unwrap_err();
    assert!(e.contains("symbolic link"), "{e}");
    let e = read_registration_file(&dir).unwrap_err();
    assert!(e.contains("not a regular file"), "{e}");
    std::fs::write(
        dir.join("big"),
        vec![b'#'; MAX_REGISTRATION_FILE as usize + 1],
    )
    .unwrap();
    let e = read_registration_file(&dir.join("big")).unwrap_err();
    assert!(e.contains("larger than"), "{e}");
    std::fs::write(dir.join("bin"), b"key \xff\n").unwrap();
    let e = read_registration_file(&dir.join("bin")).unwrap_err();
    assert!(e.contains("UTF-8"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn only_sipnats_own_directory_is_handed_over() {
    // System directories: never, whatever the registration file says.
    for d in [
        "/", "/etc", "/var", "/var/lib", "/tmp", "/usr", "/root", ".",
    ] {
        assert!(own_directory(Path::new(d), false).is_err(), "{d}");
    }
    assert_eq!(
        registration_dir(Path::new("/etc/regs")),
        Path::new("/etc"),
        "registration_file = /etc/regs names /etc"
    );
    assert_eq!(registration_dir(Path::new("regs")), Path::new("."));
    let base = std::env::temp_dir().join(format!("sipnat-own-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(base.join("shared")).unwrap();
    std::fs::create_dir_all(base.join("sipnat-office")).unwrap();
    std::fs::create_dir_all(base.join("sipnat")).unwrap();
    std::fs::write(base.join("sipnat-file"), "").unwrap();
    std::os::unix::fs::symlink("/etc", base.join("sipnat-link")).unwrap();
    // an existing directory of another name: only when sipnat made it
    assert!(own_directory(&base.join("shared"), false).is_err());
    assert_eq!(own_directory(&base.join("shared"), true), Ok(()));
    // named for sipnat
    assert_eq!(own_directory(&base.join("sipnat"), false), Ok(()));
    assert_eq!(own_directory(&base.join("sipnat-office"), false), Ok(()));
    // never through a link, never a file, never what is not there
    assert_eq!(
        own_directory(&base.join("sipnat-link"), true),
        Err("it is a symbolic link")
    );
    assert!(own_directory(&base.join("sipnat-file"), true).is_err());
    assert!(own_directory(&base.join("sipnat-none"), true).is_err());
    // making it: true only the first time
    let p = base.join("new/deeper/regs");
    assert!(create_registration_dir(&p));
    assert!(!create_registration_dir(&p));
    assert!(base.join("new/deeper").is_dir());
    // made 0755 (less the umask): nobody else may write into it
    let mode = std::fs::metadata(base.join("new/deeper")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o022,
        0
    );
    // written atomically into a directory that is not there yet
    write_atomically(&base.join("a/b/c/file"), "x", 0o600).unwrap();
    assert_eq!(
        std::fs::read_to_string(base.join("a/b/c/file")).unwrap(),
        "x"
    );
    // a file where a directory should be: an error, nothing written
    std::fs::write(base.join("plain"), "").unwrap();
    assert!(write_atomically(&base.join("plain/sub/file"), "x", 0o600).is_err());
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn tokens_decode() {
    assert_eq!(Source::of(SIP), Some(Source::Sip));
    assert_eq!(Source::of(Token(DNS_BASE)), Some(Source::Dns(0)));
    let last = DNS_BASE + MAX_DNS_PENDING - 1;
    assert_eq!(
        Source::of(Token(last)),
        Some(Source::Dns(MAX_DNS_PENDING - 1))
    );
    assert_eq!(Source::of(Token(RELAY_BASE)), Some(Source::Relay(0)));
    assert_eq!(Source::of(Token(RELAY_BASE + 97)), Some(Source::Relay(97)));
}

#[test]
fn the_resolver_files_stamp_changes_when_one_is_written_made_or_removed() {
    let dir = std::env::temp_dir().join(format!("sipnat-stamp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p = |n: &str| dir.join(n).display().to_string();
    let (a, b, c) = (p("a"), p("b"), p("c"));
    let paths = [a.as_str(), b.as_str(), c.as_str()];
    std::fs::write(&a, "nameserver 192.0.2.1\n").unwrap();
    let s0 = super::files::stamp(paths);
    assert!(s0[0].is_some() && s0[1].is_none() && s0[2].is_none());
    assert_eq!(super::files::stamp(paths), s0, "nothing changed");
    std::fs::write(&a, "nameserver 192.0.2.10\n").unwrap();
    let s1 = super::files::stamp(paths);
    assert_ne!(s1, s0, "rewritten");
    std::fs::write(&b, "nameserver 192.0.2.2\n").unwrap();
    let s2 = super::files::stamp(paths);
    assert_ne!(s2, s1, "made");
    std::fs::remove_file(&b).unwrap();
    assert_ne!(super::files::stamp(paths), s2, "removed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_kernels_flows_are_read_once_per_period_in_bounded_passes() {
    use super::fastpath::READS;
    use super::kernel::{KERNEL_SCAN, kernel_poll, pace};
    use std::time::Duration;
    let s = Duration::from_secs;
    assert_eq!(kernel_poll(300), s(10));
    assert_eq!(kernel_poll(8), s(2));
    assert_eq!(kernel_poll(1), s(1));
    for rtp in [0, 3, 4, 5, 7, 9, 13, 39, 40, 41, u32::MAX] {
        let quarter = Duration::from_secs(u64::from(rtp)) / 4;
        assert_eq!(kernel_poll(rtp), quarter.clamp(s(1), s(10)), "{rtp}");
    }
    // A few flows: one pass per KERNEL_SCAN, each its share.
    assert_eq!(pace(1, s(10)), (1, KERNEL_SCAN));
    assert_eq!(pace(30, s(10)), (2, KERNEL_SCAN));
    assert_eq!(pace(1280, s(10)), (64, KERNEL_SCAN));
    // More than READS a pass would need: READS, passes closer together.
    assert_eq!(pace(2560, s(10)), (READS, Duration::from_millis(250)));
    assert_eq!(pace(4096, s(1)), (READS, Duration::from_micros(15_625)));
    // Whatever the number and the period: never more than READS a pass,
    // and every flow read within the period.
    for secs in 1..=10 {
        let period = s(secs);
        for n in 1..=4096 {
            let (batch, gap) = pace(n, period);
            assert!((1..=READS).contains(&batch), "{n} in {period:?}");
            let passes = n.div_ceil(batch) as u32;
            assert!(gap * (passes - 1) < period, "{n} in {period:?}: {gap:?}");
        }
    }
    // Periods of a fraction of a second (kernel_poll of an rtp_timeout
    // not a multiple of 4) as the 128-bit millisecond division counted,
    // and gaps as `Duration / u32` divides.
    for ms in (0..12_000).step_by(7) {
        let period = Duration::from_millis(ms) + Duration::from_nanos(999_999);
        let passes = (period.as_millis() / KERNEL_SCAN.as_millis()).max(1) as usize;
        for n in [1usize, 30, 64, 65, 700, 4096] {
            let batch = n.div_ceil(passes).max(1);
            let want = match batch <= READS {
                true => (batch, KERNEL_SCAN),
                false => (READS, period / n.div_ceil(READS) as u32),
            };
            assert_eq!(pace(n, period), want, "{n} in {period:?}");
        }
    }
}
