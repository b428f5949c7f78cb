//! Tests of the opkg packages that `openwrt/mkipk.sh` builds without the
//! OpenWrt SDK, and of `openwrt/check-ipk.sh`, which CI runs on the real
//! cross-built packages (tests/cross-check.sh).
//!
//! A small fake binary stands in for sipnat: an ELF header saying the right
//! class, byte order and machine for the architecture, then filler. So these
//! tests need no cross toolchain, only `sh`, GNU `tar` and `gzip`, and run in
//! a second or two. They unpack every layer with `tar`, as opkg does, and
//! check: the outer order (debian-binary, data, control), the control fields,
//! conffiles, file modes and owners, contents, that the maintainer scripts
//! hand over to OpenWrt's default_postinst/default_prerm, that the same
//! input gives the same bytes, and that wrong inputs are refused; and that
//! the variant package sipnat-tls (`mkipk.sh --variant tls`) is the same
//! package under another name, with its Depends, Conflicts and Provides.
//!
//! What they do not do: install the package with a real opkg (none on
//! Debian), or look at a real binary (tests/cross-check.sh does both of the
//! checks on the real, cross-built packages that it can).

#[path = "shrunk/mod.rs"]
mod shrunk;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One OpenWrt arch as openwrt/arch.sh's table gives it: name, ELF class,
/// data (byte order), e_machine and the ARM float ABI ("hard", "soft"; "-"
/// for other machines).
#[derive(Clone, Debug)]
struct Arch {
    name: String,
    class: u8,
    data: u8,
    machine: u16,
    float: String,
}

/// Every OpenWrt arch with its ELF identification, from the one table.
fn archs() -> Vec<Arch> {
    let o = Command::new("sh")
        .arg("-c")
        .arg(". openwrt/arch.sh; for a in $SIPNAT_ARCHS; do echo \"$a $(sipnat_arch_elf \"$a\")\"; done")
        .current_dir(root())
        .output()
        .expect("sh");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(w.len(), 5, "{l}");
            Arch {
                name: w[0].to_string(),
                class: w[1].parse().unwrap(),
                data: w[2].parse().unwrap(),
                machine: w[3].parse().unwrap(),
                float: w[4].to_string(),
            }
        })
        .collect()
}

fn arch(name: &str) -> Arch {
    archs()
        .into_iter()
        .find(|a| a.name == name)
        .expect("test uses a known arch")
}

/// A fixed time for the packages (2024-01-01T00:00:00Z).
const EPOCH: &str = "1704067200";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sipnat-package-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap(); // the temp directory is writable
    dir
}

/// An ELF header for `arch` followed by filler; only the identification,
/// e_machine and (ARM) the float ABI bits of e_flags matter to mkipk.sh.
fn fake_binary(arch_name: &str) -> Vec<u8> {
    let a = arch(arch_name);
    let flags = match a.float.as_str() {
        // EF_ARM_EABI_VER5 | EF_ARM_ABI_FLOAT_HARD / _SOFT
        "hard" => 0x0500_0400u32,
        "soft" => 0x0500_0200u32,
        _ => 0,
    };
    fake_elf(arch_name, a.class, a.data, a.machine, flags)
}

/// An ELF header with these fields followed by filler that names `label`.
fn fake_elf(label: &str, class: u8, data: u8, machine: u16, flags: u32) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = class;
    b[5] = data;
    b[6] = 1; // EV_CURRENT
    let (e_type, e_machine, e_flags) = if data == 2 {
        (
            2u16.to_be_bytes(),
            machine.to_be_bytes(),
            flags.to_be_bytes(),
        )
    } else {
        (
            2u16.to_le_bytes(),
            machine.to_le_bytes(),
            flags.to_le_bytes(),
        )
    };
    b[16..18].copy_from_slice(&e_type);
    b[18..20].copy_from_slice(&e_machine);
    // e_flags: offset 36 in a 32-bit header, 48 in a 64-bit one.
    let at = if class == 1 { 36 } else { 48 };
    b[at..at + 4].copy_from_slice(&e_flags);
    for i in 0..4000u32 {
        b.extend_from_slice(format!("fake sipnat {label} {i}\n").as_bytes());
    }
    b
}

fn write_binary(dir: &Path, arch: &str) -> PathBuf {
    let p = dir.join(format!("sipnat-{arch}"));
    fs::write(&p, fake_binary(arch)).unwrap();
    p
}

/// Runs mkipk.sh under `umask` with SOURCE_DATE_EPOCH = `epoch`.
fn mkipk_with(
    bin: &Path,
    arch: &str,
    version: &str,
    out: &Path,
    epoch: &str,
    umask: &str,
) -> Output {
    mkipk_run("base", bin, arch, version, out, epoch, umask)
}

/// Runs `mkipk.sh --variant VARIANT` under `umask` with SOURCE_DATE_EPOCH
/// = `epoch`.
fn mkipk_run(
    variant: &str,
    bin: &Path,
    arch: &str,
    version: &str,
    out: &Path,
    epoch: &str,
    umask: &str,
) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec sh \"$0\" \"$@\""))
        .arg(root().join("openwrt/mkipk.sh"))
        .args(["--variant", variant])
        .arg(bin)
        .arg(arch)
        .arg(version)
        .arg(out)
        .env("SOURCE_DATE_EPOCH", epoch)
        .output()
        .expect("sh runs")
}

/// Builds the package and returns its path (asserting success).
fn mkipk(bin: &Path, arch: &str, version: &str, out: &Path) -> PathBuf {
    mkipk_variant("base", bin, arch, version, out)
}

/// Builds the package of `variant` (openwrt/variants.sh) and returns its
/// path (asserting success).
fn mkipk_variant(variant: &str, bin: &Path, arch: &str, version: &str, out: &Path) -> PathBuf {
    let o = mkipk_run(variant, bin, arch, version, out, EPOCH, "022");
    assert!(
        o.status.success(),
        "mkipk.sh failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let printed = String::from_utf8(o.stdout).unwrap();
    let package = if variant == "base" {
        "sipnat".to_owned()
    } else {
        format!("sipnat-{variant}")
    };
    let ipk = out.join(format!("{package}_{version}_{arch}.ipk"));
    assert_eq!(
        printed.trim(),
        ipk.to_str().unwrap(),
        "mkipk.sh prints the package path"
    );
    ipk
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().expect("command runs");
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).unwrap()
}

/// Member names of a gzip'd tar, in archive order.
fn members(tgz: &Path) -> Vec<String> {
    stdout(Command::new("tar").arg("-tzf").arg(tgz))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// (mode string, owner/group, name) of every member.
fn members_verbose(tgz: &Path) -> Vec<(String, String, String)> {
    stdout(
        Command::new("tar")
            .args(["--numeric-owner", "-tvzf"])
            .arg(tgz),
    )
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f[0].to_owned(), f[1].to_owned(), f[5].to_owned())
    })
    .collect()
}

/// Unpacks the outer layer and both inner ones under `dir`: dir/outer,
/// dir/control, dir/data.
fn unpack(ipk: &Path, dir: &Path) {
    for d in ["outer", "control", "data"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    run(Command::new("tar")
        .arg("-xzf")
        .arg(ipk)
        .arg("-C")
        .arg(dir.join("outer")));
    for d in ["control", "data"] {
        run(Command::new("tar")
            .arg("-xzf")
            .arg(dir.join(format!("outer/{d}.tar.gz")))
            .arg("-C")
            .arg(dir.join(d)));
    }
}

fn control_fields(control: &str) -> Vec<(String, String)> {
    control
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn layers_and_control_fields_are_what_opkg_reads() {
    let dir = scratch("layers");
    let bin = write_binary(&dir, "mipsel_24kc");
    let ipk = mkipk(&bin, "mipsel_24kc", "0.1.0-r1", &dir.join("out"));

    // opkg reads the members in this order.
    assert_eq!(
        members(&ipk),
        ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]
    );
    let x = dir.join("x");
    unpack(&ipk, &x);
    assert_eq!(fs::read(x.join("outer/debian-binary")).unwrap(), b"2.0\n");

    let control = fs::read_to_string(x.join("control/control")).unwrap();
    let fields = control_fields(&control);
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "Package",
            "Version",
            "Source",
            "SourceName",
            "License",
            "Section",
            "Require-User",
            "SourceDateEpoch",
            "Maintainer",
            "Architecture",
            "Installed-Size",
            "Description"
        ],
        "no Depends: the static binary needs no libc package"
    );
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap()
    };
    assert_eq!(get("Package"), "sipnat");
    assert_eq!(get("Version"), "0.1.0-r1");
    assert_eq!(get("Architecture"), "mipsel_24kc");
    assert_eq!(get("Section"), "net");
    // The user the shipped configuration switches to: OpenWrt's
    // default_postinst creates it from this field (name[=uid]:group[=gid];
    // no numbers: the first free ids from 32768).
    assert_eq!(get("Require-User"), "sipnat:sipnat");
    let shipped = fs::read_to_string(root().join("uci-config/sipnat")).unwrap();
    assert!(shipped.contains("\n\toption user 'sipnat'\n"), "{shipped}");
    assert_eq!(get("License"), "GPL-2.0-or-later");
    assert_eq!(get("SourceDateEpoch"), EPOCH);
    // The description continues on lines that start with a space.
    assert!(
        control
            .lines()
            .skip_while(|l| !l.starts_with("Description:"))
            .nth(1)
            .unwrap()
            .starts_with(' ')
    );
    assert!(control.ends_with('\n'));

    // Installed-Size is the bytes of the files installed.
    let files = [
        ("usr/sbin/sipnat", bin.clone()),
        ("etc/init.d/sipnat", root().join("init.d/sipnat")),
        ("etc/config/sipnat", root().join("uci-config/sipnat")),
        (
            "etc/uci-defaults/90-sipnat",
            root().join("openwrt/files/sipnat.uci-defaults"),
        ),
        (
            "usr/share/sipnat/sipnat.default",
            root().join("uci-config/sipnat"),
        ),
        (
            "usr/libexec/rpcd/sipnat",
            root().join("openwrt/files/sipnat.rpcd"),
        ),
        (
            "usr/share/rpcd/acl.d/sipnat.json",
            root().join("openwrt/files/sipnat.acl.json"),
        ),
        (
            "usr/share/nftables.d/chain-pre/forward/30-sipnat.nft",
            root().join("openwrt/files/sipnat.nft"),
        ),
    ];
    let total: u64 = files
        .iter()
        .map(|(inside, src)| {
            let packaged = fs::read(x.join("data").join(inside)).unwrap();
            let source = fs::read(src).unwrap();
            // the scripts are packed without their comments
            assert!(
                packaged == source || packaged == shrunk::shrunk(&source),
                "{inside}"
            );
            packaged.len() as u64
        })
        .sum();
    assert_eq!(get("Installed-Size"), total.to_string());

    assert_eq!(
        fs::read_to_string(x.join("control/conffiles")).unwrap(),
        "/etc/config/sipnat\n"
    );
    let mut ctl: Vec<_> = members_verbose(&x.join("outer/control.tar.gz"))
        .into_iter()
        .filter(|(m, _, _)| !m.starts_with('d'))
        .map(|(m, o, n)| format!("{m} {o} {n}"))
        .collect();
    ctl.sort();
    assert_eq!(
        ctl,
        [
            "-rw-r--r-- 0/0 ./conffiles",
            "-rw-r--r-- 0/0 ./control",
            "-rwxr-xr-x 0/0 ./postinst",
            "-rwxr-xr-x 0/0 ./prerm"
        ]
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn data_has_the_files_with_their_modes_owners_and_contents() {
    let dir = scratch("data");
    let bin = write_binary(&dir, "mips_24kc");
    let ipk = mkipk(&bin, "mips_24kc", "1.2.3-r4", &dir.join("out"));
    let x = dir.join("x");
    unpack(&ipk, &x);

    let entries: Vec<(String, String, String)> = members_verbose(&x.join("outer/data.tar.gz"));
    let listed = |dirs: bool| -> Vec<String> {
        entries
            .iter()
            .filter(|(m, _, _)| m.starts_with('d') == dirs)
            .map(|(m, o, n)| format!("{m} {o} {n}"))
            .collect()
    };
    // The directories first, by name, everything root's ...
    let ndirs = listed(true).len();
    assert!(entries[..ndirs].iter().all(|(m, _, _)| m.starts_with('d')));
    assert_eq!(
        listed(true),
        [
            "drwxr-xr-x 0/0 ./",
            "drwxr-xr-x 0/0 ./etc/",
            "drwxr-xr-x 0/0 ./etc/config/",
            "drwxr-xr-x 0/0 ./etc/init.d/",
            "drwxr-xr-x 0/0 ./etc/uci-defaults/",
            "drwxr-xr-x 0/0 ./usr/",
            "drwxr-xr-x 0/0 ./usr/libexec/",
            "drwxr-xr-x 0/0 ./usr/libexec/rpcd/",
            "drwxr-xr-x 0/0 ./usr/sbin/",
            "drwxr-xr-x 0/0 ./usr/share/",
            "drwxr-xr-x 0/0 ./usr/share/nftables.d/",
            "drwxr-xr-x 0/0 ./usr/share/nftables.d/chain-pre/",
            "drwxr-xr-x 0/0 ./usr/share/nftables.d/chain-pre/forward/",
            "drwxr-xr-x 0/0 ./usr/share/rpcd/",
            "drwxr-xr-x 0/0 ./usr/share/rpcd/acl.d/",
            "drwxr-xr-x 0/0 ./usr/share/sipnat/",
        ]
    );
    // ... then the files, largest first, equal sizes by name (openwrt/ipk.sh:
    // the configuration and its identical reference copy side by side).
    let mut files = listed(false);
    files.sort();
    assert_eq!(
        files,
        [
            "-rw-r--r-- 0/0 ./etc/config/sipnat",
            "-rw-r--r-- 0/0 ./usr/share/nftables.d/chain-pre/forward/30-sipnat.nft",
            "-rw-r--r-- 0/0 ./usr/share/rpcd/acl.d/sipnat.json",
            "-rw-r--r-- 0/0 ./usr/share/sipnat/sipnat.default",
            "-rwxr-xr-x 0/0 ./etc/init.d/sipnat",
            "-rwxr-xr-x 0/0 ./etc/uci-defaults/90-sipnat",
            "-rwxr-xr-x 0/0 ./usr/libexec/rpcd/sipnat",
            "-rwxr-xr-x 0/0 ./usr/sbin/sipnat",
        ]
    );
    let order: Vec<&str> = entries[ndirs..]
        .iter()
        .map(|(_, _, n)| n.as_str())
        .collect();
    let size = |n: &str| fs::metadata(x.join("data").join(n)).unwrap().len();
    for w in order.windows(2) {
        assert!(
            (size(w[0]), w[1]) >= (size(w[1]), w[0]),
            "{} before {}: not largest first, then by name",
            w[0],
            w[1]
        );
    }
    let config = order.iter().position(|n| *n == "./etc/config/sipnat");
    assert_eq!(
        order.get(config.unwrap() + 1),
        Some(&"./usr/share/sipnat/sipnat.default"),
        "{order:?}"
    );
    let same = |inside: &str, src: PathBuf| {
        assert!(
            fs::read(x.join("data").join(inside)).unwrap() == fs::read(&src).unwrap(),
            "{inside} is not a copy of {}",
            src.display()
        );
    };
    same("usr/sbin/sipnat", bin);
    // The scripts without their comments (openwrt/shrink-script.sh).
    for (inside, src) in [
        ("etc/init.d/sipnat", "init.d/sipnat"),
        (
            "etc/uci-defaults/90-sipnat",
            "openwrt/files/sipnat.uci-defaults",
        ),
        ("usr/libexec/rpcd/sipnat", "openwrt/files/sipnat.rpcd"),
    ] {
        let source = fs::read(root().join(src)).unwrap();
        shrunk::comment_lines_are_comments(&String::from_utf8_lossy(&source))
            .unwrap_or_else(|e| panic!("{src}: {e}"));
        let packaged = x.join("data").join(inside);
        assert!(
            fs::read(&packaged).unwrap() == shrunk::shrunk(&source),
            "{inside} is not {src} shrunk"
        );
        assert!(
            Command::new("sh")
                .arg("-n")
                .arg(&packaged)
                .status()
                .unwrap()
                .success(),
            "{inside} does not parse"
        );
    }
    same("etc/config/sipnat", root().join("uci-config/sipnat"));
    same(
        "usr/share/sipnat/sipnat.default",
        root().join("uci-config/sipnat"),
    );
    same(
        "usr/share/rpcd/acl.d/sipnat.json",
        root().join("openwrt/files/sipnat.acl.json"),
    );
    // fw4's include without its comments, the rule first; its mark is the
    // one sipnat's table sets.
    let nft = fs::read_to_string(root().join("openwrt/files/sipnat.nft")).unwrap();
    assert!(
        fs::read(x.join("data/usr/share/nftables.d/chain-pre/forward/30-sipnat.nft")).unwrap()
            == shrunk::shrunk(nft.as_bytes()),
        "30-sipnat.nft is not openwrt/files/sipnat.nft shrunk"
    );
    let mark = format!(
        "ct mark & {0:#010x} == {0:#010x} accept",
        sipnat::driver::fastpath::MARK
    );
    assert!(nft.starts_with(&mark), "{nft}");

    // Every entry of every layer carries SOURCE_DATE_EPOCH as its mtime.
    for tgz in [
        ipk.clone(),
        x.join("outer/data.tar.gz"),
        x.join("outer/control.tar.gz"),
    ] {
        let times = stdout(
            Command::new("tar")
                .args(["--full-time", "-tvzf"])
                .arg(&tgz)
                .env("TZ", "UTC"),
        );
        for l in times.lines() {
            assert!(l.contains("2024-01-01 00:00:00"), "{}: {l}", tgz.display());
        }
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn same_input_gives_identical_bytes() {
    let dir = scratch("repro");
    let bin = write_binary(&dir, "aarch64_cortex-a53");
    let a = mkipk(&bin, "aarch64_cortex-a53", "0.1.0-r1", &dir.join("a"));

    // A copy of the binary with another mtime and mode, another umask, another
    // output directory: still the same bytes.
    let other = dir.join("elsewhere");
    fs::create_dir_all(&other).unwrap();
    let bin2 = other.join("sipnat");
    fs::copy(&bin, &bin2).unwrap();
    run(Command::new("chmod").arg("600").arg(&bin2));
    run(Command::new("touch")
        .args(["-d", "2001-02-03 04:05:06"])
        .arg(&bin2));
    let o = mkipk_with(
        &bin2,
        "aarch64_cortex-a53",
        "0.1.0-r1",
        &dir.join("b"),
        EPOCH,
        "077",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let b = dir.join("b/sipnat_0.1.0-r1_aarch64_cortex-a53.ipk");
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "two runs differ"
    );

    // No gzip layer records a file name or a time (gzip -n): RFC 1952 2.3,
    // FLG bit 3 is FNAME, bytes 4..8 are MTIME.
    let x = dir.join("x");
    unpack(&a, &x);
    for gz in [
        a.clone(),
        x.join("outer/data.tar.gz"),
        x.join("outer/control.tar.gz"),
    ] {
        let head = fs::read(&gz).unwrap();
        assert_eq!(
            &head[..3],
            b"\x1f\x8b\x08",
            "{} is gzip/deflate",
            gz.display()
        );
        assert_eq!(head[3] & 0x08, 0, "{} records a file name", gz.display());
        assert_eq!(
            &head[4..8],
            &[0, 0, 0, 0],
            "{} records a time",
            gz.display()
        );
    }

    // The time is part of the input: another SOURCE_DATE_EPOCH, other bytes.
    let o = mkipk_with(
        &bin,
        "aarch64_cortex-a53",
        "0.1.0-r1",
        &dir.join("c"),
        "1704067201",
        "022",
    );
    assert!(o.status.success());
    let c = dir.join("c/sipnat_0.1.0-r1_aarch64_cortex-a53.ipk");
    assert!(fs::read(&a).unwrap() != fs::read(&c).unwrap());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn every_architecture_is_packaged_and_passes_the_ci_check() {
    let dir = scratch("archs");
    let archs = archs();
    assert!(archs.len() >= 10, "{archs:?}");
    for a in &archs {
        let arch = a.name.as_str();
        let bin = write_binary(&dir, arch);
        let ipk = mkipk(&bin, arch, "0.1.0-r1", &dir.join("out"));
        let o = run(Command::new("sh")
            .arg(root().join("openwrt/check-ipk.sh"))
            .arg(&ipk));
        let said = String::from_utf8(o.stdout).unwrap();
        assert!(
            said.starts_with(&format!("ok: sipnat_0.1.0-r1_{arch}")),
            "{said}"
        );
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn wrong_binaries_architectures_and_versions_are_refused() {
    let dir = scratch("refuse");
    let out = dir.join("out");
    let x86 = write_binary(&dir, "x86_64");
    let mipsel = write_binary(&dir, "mipsel_24kc");
    let text = dir.join("not-elf");
    fs::write(&text, "#!/bin/sh\necho sipnat\n").unwrap();

    let refused = |bin: &Path, arch: &str, version: &str, why: &str| {
        let o = mkipk_with(bin, arch, version, &out, EPOCH, "022");
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{arch} {version}: {err}");
        assert!(err.contains(why), "{arch} {version}: {err}");
    };
    // An x86_64 binary is not a MIPS one; a little-endian MIPS binary is not
    // a big-endian one; a script is no binary at all.
    refused(
        &x86,
        "mips_24kc",
        "0.1.0-r1",
        "not an ELF executable for mips_24kc",
    );
    refused(
        &mipsel,
        "mips_24kc",
        "0.1.0-r1",
        "not an ELF executable for mips_24kc",
    );
    refused(&text, "x86_64", "0.1.0-r1", "not ELF");
    refused(&x86, "mips_74kc", "0.1.0-r1", "unknown architecture");
    refused(&x86, "x86_64", "v0.1.0", "must start with a digit");
    refused(&x86, "x86_64", "0.1 0", "characters opkg does not allow");
    refused(&x86, "x86_64", "0.1_0", "characters opkg does not allow");
    assert!(!out.join("sipnat_0.1.0-r1_mips_24kc.ipk").exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_ci_check_finds_broken_packages() {
    let dir = scratch("broken");
    let bin = write_binary(&dir, "x86_64");
    let ipk = mkipk(&bin, "x86_64", "0.1.0-r1", &dir.join("out"));
    let x = dir.join("x");
    unpack(&ipk, &x);
    let check = |ipk: &Path| {
        let o = Command::new("sh")
            .arg(root().join("openwrt/check-ipk.sh"))
            .arg(ipk)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", ipk.display());
        String::from_utf8(o.stderr).unwrap()
    };

    // control before data: opkg wants data first.
    let bad = dir.join("bad1/sipnat_0.1.0-r1_x86_64.ipk");
    fs::create_dir_all(bad.parent().unwrap()).unwrap();
    run(Command::new("sh").arg("-c").arg(format!(
        "tar -C '{}' -cf - ./debian-binary ./control.tar.gz ./data.tar.gz | gzip -n > '{}'",
        x.join("outer").display(),
        bad.display()
    )));
    assert!(check(&bad).contains("outer members"));

    // The same package claimed for another architecture, by its file name.
    let bad = dir.join("bad2/sipnat_0.1.0-r1_mips_24kc.ipk");
    fs::create_dir_all(bad.parent().unwrap()).unwrap();
    fs::copy(&ipk, &bad).unwrap();
    let err = check(&bad);
    assert!(
        err.contains("Architecture is 'x86_64', want 'mips_24kc'"),
        "{err}"
    );
    assert!(err.contains("not an ELF executable for mips_24kc"), "{err}");

    // No Require-User: the configuration's user would not exist.
    let bad = dir.join("bad3/sipnat_0.1.0-r1_x86_64.ipk");
    let work = dir.join("bad3/work");
    fs::create_dir_all(&work).unwrap();
    run(Command::new("cp")
        .arg("-R")
        .arg(x.join("outer/."))
        .arg(&work));
    let control = fs::read_to_string(x.join("control/control")).unwrap();
    let stripped: String = control
        .lines()
        .filter(|l| !l.starts_with("Require-User:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let ctl = dir.join("bad3/control");
    run(Command::new("cp")
        .arg("-R")
        .arg(x.join("control"))
        .arg(&ctl));
    fs::write(ctl.join("control"), stripped).unwrap();
    run(Command::new("sh").arg("-c").arg(format!(
        "tar -C '{}' --owner=0 --group=0 -cf - . | gzip -n > '{}/control.tar.gz' && \
         tar -C '{}' -cf - ./debian-binary ./data.tar.gz ./control.tar.gz | gzip -n > '{}'",
        ctl.display(),
        work.display(),
        work.display(),
        bad.display()
    )));
    let err = check(&bad);
    assert!(err.contains("Require-User is ''"), "{err}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn maintainer_scripts_hand_over_to_openwrt_defaults() {
    let dir = scratch("scripts");
    let bin = write_binary(&dir, "arm_cortex-a7_neon-vfpv4");
    let ipk = mkipk(
        &bin,
        "arm_cortex-a7_neon-vfpv4",
        "0.1.0-r1",
        &dir.join("out"),
    );
    let x = dir.join("x");
    unpack(&ipk, &x);

    // A root with a stub /lib/functions.sh whose defaults record their calls;
    // opkg keeps the scripts as /usr/lib/opkg/info/<package>.<script>.
    let instroot = dir.join("root");
    let info = instroot.join("usr/lib/opkg/info");
    fs::create_dir_all(instroot.join("lib")).unwrap();
    fs::create_dir_all(&info).unwrap();
    let log = dir.join("calls");
    fs::write(
        instroot.join("lib/functions.sh"),
        format!(
            "default_postinst() {{ echo \"default_postinst $*\" >> '{0}'; }}\n\
             default_prerm() {{ echo \"default_prerm $*\" >> '{0}'; }}\n",
            log.display()
        ),
    )
    .unwrap();
    for s in ["postinst", "prerm"] {
        fs::copy(x.join("control").join(s), info.join(format!("sipnat.{s}"))).unwrap();
    }
    let script = |s: &str, arg: &str, no_script: &str, instroot: &Path| {
        Command::new("sh")
            .arg(info.join(format!("sipnat.{s}")))
            .arg(arg)
            .env("IPKG_INSTROOT", instroot)
            .env("IPKG_NO_SCRIPT", no_script)
            .status()
            .unwrap()
    };

    assert!(script("postinst", "configure", "", &instroot).success());
    assert!(script("prerm", "remove", "", &instroot).success());
    // opkg's offline root installs (IPKG_NO_SCRIPT=1) skip the postinst.
    assert!(script("postinst", "configure", "1", &instroot).success());
    // A root without OpenWrt's functions.sh: nothing to do, no error.
    assert!(script("postinst", "configure", "", &dir.join("empty")).success());

    let postinst = info.join("sipnat.postinst");
    let prerm = info.join("sipnat.prerm");
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!(
            "default_postinst {} configure\ndefault_prerm {} remove\n",
            postinst.display(),
            prerm.display()
        )
    );
    let _ = fs::remove_dir_all(&dir);
}

/// The ARM float ABI follows OpenWrt's naming: an arch with an FPU suffix
/// (`_neon`, `_vfp…`) is hard float and gets the musleabihf build; one
/// without (arm_cortex-a7: mediatek mt7629; arm_cortex-a9: bcm53xx) is soft
/// float and gets the musleabi build. Checked over the whole table, so a new
/// row cannot pair an arch with the wrong build.
#[test]
fn arm_archs_get_the_build_of_their_float_abi() {
    let mut soft = Vec::new();
    for a in archs() {
        let target = stdout(
            Command::new("sh")
                .arg("-c")
                .arg(". openwrt/arch.sh; sipnat_arch_target \"$1\"")
                .arg("sh")
                .arg(&a.name)
                .current_dir(root()),
        );
        let target = target.trim();
        if a.machine != 40 {
            assert_eq!(a.float, "-", "{a:?}");
            continue;
        }
        let fpu = a.name.contains("_neon") || a.name.contains("_vfp");
        let want = if fpu { "hard" } else { "soft" };
        assert_eq!(a.float, want, "{a:?}");
        let want_target = if fpu {
            "armv7-unknown-linux-musleabihf"
        } else {
            "armv7-unknown-linux-musleabi"
        };
        assert_eq!(target, want_target, "{a:?}");
        if !fpu {
            soft.push(a.name.clone());
        }
    }
    assert!(soft.contains(&"arm_cortex-a7".to_string()), "{soft:?}");
}

/// A hard-float binary is never packaged as arm_cortex-a7 (or a soft-float
/// one as arm_cortex-a7_neon-vfpv4): mkipk.sh refuses it, and check-ipk.sh
/// finds it in a package put together by other means.
#[test]
fn the_arm_float_abi_is_checked() {
    let dir = scratch("float");
    let out = dir.join("out");
    let hard = write_binary(&dir, "arm_cortex-a7_neon-vfpv4");
    let soft = write_binary(&dir, "arm_cortex-a7");
    for (bin, arch, have) in [
        (&hard, "arm_cortex-a7", "1 1 40 hard"),
        (&hard, "arm_cortex-a9", "1 1 40 hard"),
        (&soft, "arm_cortex-a7_neon-vfpv4", "1 1 40 soft"),
    ] {
        let o = mkipk_with(bin, arch, "0.1.0-r1", &out, EPOCH, "022");
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{arch}: {err}");
        assert!(
            err.contains(&format!("not an ELF executable for {arch}")),
            "{err}"
        );
        assert!(err.contains(have), "{arch}: {err}");
    }
    // Neither float bit (or both): not packaged for any ARM arch.
    let neither = dir.join("sipnat-neither");
    fs::write(&neither, fake_elf("neither", 1, 1, 40, 0x0500_0000)).unwrap();
    let both = dir.join("sipnat-both");
    fs::write(&both, fake_elf("both", 1, 1, 40, 0x0500_0600)).unwrap();
    for (bin, arch) in [
        (&neither, "arm_cortex-a7"),
        (&neither, "arm_cortex-a7_neon-vfpv4"),
        (&both, "arm_cortex-a7"),
    ] {
        let o = mkipk_with(bin, arch, "0.1.0-r1", &out, EPOCH, "022");
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{}: {err}", bin.display());
        assert!(err.contains("1 1 40 none"), "{err}");
    }
    assert!(!out.join("sipnat_0.1.0-r1_arm_cortex-a7.ipk").exists());

    // The right binaries are packaged.
    mkipk(&soft, "arm_cortex-a7", "0.1.0-r1", &out);
    mkipk(&hard, "arm_cortex-a7_neon-vfpv4", "0.1.0-r1", &out);

    // A soft-float package whose binary was swapped for a hard-float one
    // of the same size (only e_flags differs): check-ipk.sh names the ABI.
    let ipk = mkipk(&soft, "arm_cortex-a9", "0.1.0-r1", &dir.join("good"));
    let x = dir.join("x");
    unpack(&ipk, &x);
    let bin = x.join("data/usr/sbin/sipnat");
    let mut bytes = fs::read(&bin).unwrap();
    assert_eq!(
        bytes[37], 0x02,
        "EF_ARM_ABI_FLOAT_SOFT in e_flags' second byte"
    );
    bytes[37] = 0x04; // EF_ARM_ABI_FLOAT_HARD
    fs::write(&bin, bytes).unwrap();
    let bad = dir.join("bad/sipnat_0.1.0-r1_arm_cortex-a9.ipk");
    fs::create_dir_all(bad.parent().unwrap()).unwrap();
    run(Command::new("sh").arg("-c").arg(format!(
        "tar -C '{data}' --owner=0 --group=0 --numeric-owner -cf - . | gzip -n > '{outer}/data.tar.gz' && \
         tar -C '{outer}' -cf - ./debian-binary ./data.tar.gz ./control.tar.gz | gzip -n > '{bad}'",
        data = x.join("data").display(),
        outer = x.join("outer").display(),
        bad = bad.display()
    )));
    let o = Command::new("sh")
        .arg(root().join("openwrt/check-ipk.sh"))
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("has the hard float ABI, arm_cortex-a9 needs soft"),
        "{err}"
    );
    assert!(
        err.contains(": 2 problem(s)"),
        "only the ELF problems: {err}"
    );
    let _ = fs::remove_dir_all(&dir);
}

/// The TLS variant (openwrt/variants.sh `tls`): the package sipnat-tls,
/// which depends on the CA bundle, provides sipnat and conflicts with it
/// (OpenWrt's wpad variants do the same), and is otherwise the base
/// package: given the same binary, its data layer is the same bytes.
#[test]
fn the_tls_variant_is_sipnat_under_another_name() {
    let dir = scratch("tls");
    let bin = write_binary(&dir, "mipsel_24kc");
    let base = mkipk(&bin, "mipsel_24kc", "0.1.0-r1", &dir.join("out"));
    let tls = mkipk_variant("tls", &bin, "mipsel_24kc", "0.1.0-r1", &dir.join("out"));
    assert!(tls.ends_with("sipnat-tls_0.1.0-r1_mipsel_24kc.ipk"));
    // CI's check passes it (tests/cross-check.sh runs it on the real one).
    let o = run(Command::new("sh")
        .arg(root().join("openwrt/check-ipk.sh"))
        .arg(&tls));
    let said = String::from_utf8(o.stdout).unwrap();
    assert!(
        said.starts_with("ok: sipnat-tls_0.1.0-r1_mipsel_24kc"),
        "{said}"
    );
    let (xb, xt) = (dir.join("xb"), dir.join("xt"));
    unpack(&base, &xb);
    unpack(&tls, &xt);
    assert!(
        fs::read(xb.join("outer/data.tar.gz")).unwrap()
            == fs::read(xt.join("outer/data.tar.gz")).unwrap(),
        "the variants' data layers differ"
    );
    for f in ["conffiles", "postinst", "prerm"] {
        assert!(
            fs::read(xb.join("control").join(f)).unwrap()
                == fs::read(xt.join("control").join(f)).unwrap(),
            "{f}"
        );
    }
    let control = fs::read_to_string(xt.join("control/control")).unwrap();
    let fields = control_fields(&control);
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "Package",
            "Version",
            "Depends",
            "Conflicts",
            "Provides",
            "Source",
            "SourceName",
            "License",
            "Section",
            "Require-User",
            "SourceDateEpoch",
            "Maintainer",
            "Architecture",
            "Installed-Size",
            "Description"
        ]
    );
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap()
    };
    assert_eq!(get("Package"), "sipnat-tls");
    assert_eq!(get("Depends"), "ca-bundle");
    assert_eq!(get("Conflicts"), "sipnat");
    assert_eq!(get("Provides"), "sipnat");
    assert_eq!(
        get("Description"),
        "SIP/RTP NAT traversal proxy (a siproxd replacement) with SIP over TLS"
    );
    // Everything else is the base package's.
    let base_control = fs::read_to_string(xb.join("control/control")).unwrap();
    let rest = |c: &str| -> Vec<String> {
        c.lines()
            .filter(|l| {
                ![
                    "Package:",
                    "Depends:",
                    "Conflicts:",
                    "Provides:",
                    "Description:",
                ]
                .iter()
                .any(|p| l.starts_with(p))
            })
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(rest(&control), rest(&base_control));
    let _ = fs::remove_dir_all(&dir);
}

/// check-ipk.sh knows the variant from the package's file name and wants
/// exactly its relations; mkipk.sh refuses a variant it does not know.
#[test]
fn the_ci_check_wants_each_variants_relations() {
    let dir = scratch("variant-check");
    let bin = write_binary(&dir, "x86_64");
    let base = mkipk(&bin, "x86_64", "0.1.0-r1", &dir.join("out"));
    let tls = mkipk_variant("tls", &bin, "x86_64", "0.1.0-r1", &dir.join("out"));
    let check = |ipk: &Path| {
        Command::new("sh")
            .arg(root().join("openwrt/check-ipk.sh"))
            .arg(ipk)
            .output()
            .unwrap()
    };
    // Each under the other's name.
    for (ipk, as_name, why) in [
        (
            &tls,
            "sipnat_0.1.0-r1_x86_64.ipk",
            "Package is 'sipnat-tls', want 'sipnat'",
        ),
        (
            &tls,
            "sipnat_0.1.0-r1_x86_64.ipk",
            "control has a Provides line",
        ),
        (
            &base,
            "sipnat-tls_0.1.0-r1_x86_64.ipk",
            "Depends is '' (0 line(s)), want 'ca-bundle'",
        ),
        (
            &base,
            "sipnat-tls_0.1.0-r1_x86_64.ipk",
            "Conflicts is '' (0 line(s)), want 'sipnat'",
        ),
    ] {
        let renamed = dir.join("renamed").join(as_name);
        fs::create_dir_all(renamed.parent().unwrap()).unwrap();
        fs::copy(ipk, &renamed).unwrap();
        let o = check(&renamed);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{as_name}: {err}");
        assert!(err.contains(why), "{as_name}: {err}");
    }
    // Without --variant, the base package, byte for byte.
    let o = Command::new("sh")
        .arg(root().join("openwrt/mkipk.sh"))
        .arg(&bin)
        .args(["x86_64", "0.1.0-r1"])
        .arg(dir.join("plain"))
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        fs::read(dir.join("plain/sipnat_0.1.0-r1_x86_64.ipk")).unwrap() == fs::read(&base).unwrap()
    );
    // Not a sipnat package at all.
    let other = dir.join("renamed/wpad_0.1.0-r1_x86_64.ipk");
    fs::copy(&base, &other).unwrap();
    let o = check(&other);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no sipnat package"));
    let o = Command::new("sh")
        .arg(root().join("openwrt/mkipk.sh"))
        .args(["--variant", "openssl"])
        .arg(&bin)
        .args(["x86_64", "0.1.0-r1"])
        .arg(dir.join("out2"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown variant 'openssl'; known: base tls")
    );
    let _ = fs::remove_dir_all(&dir);
}
