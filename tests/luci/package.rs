//! The package of luci-app-sipnat that `openwrt/mkipk-luci.sh` builds:
//! layers, control fields, files with their modes and owners, contents,
//! reproducibility, the postinst, refused inputs, and shellcheck of the
//! packing scripts.

use super::{app, root, scratch};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EPOCH: &str = "1704067200";

fn mkipk_luci(version: &str, out: &Path, umask: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec sh \"$0\" \"$@\""))
        .arg(root().join("openwrt/mkipk-luci.sh"))
        .arg(version)
        .arg(out)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .expect("sh runs")
}

fn build(version: &str, out: &Path) -> PathBuf {
    let o = mkipk_luci(version, out, "022");
    assert!(
        o.status.success(),
        "mkipk-luci.sh failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let ipk = out.join(format!("luci-app-sipnat_{version}_all.ipk"));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap().trim(),
        ipk.to_str().unwrap()
    );
    ipk
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().expect("command runs");
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// "mode owner name" of every member of a gzip'd tar, in archive order.
fn listing(tgz: &Path) -> Vec<String> {
    run(Command::new("tar")
        .args(["--numeric-owner", "-tvzf"])
        .arg(tgz))
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        format!("{} {} {}", f[0], f[1], f[5])
    })
    .collect()
}

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

#[test]
fn package_has_the_files_modes_and_control_fields_opkg_reads() {
    let dir = scratch("ipk");
    let ipk = build("0.1.0-r1", &dir.join("out"));
    assert_eq!(
        run(Command::new("tar").arg("-tzf").arg(&ipk)),
        "./debian-binary\n./data.tar.gz\n./control.tar.gz\n"
    );
    let x = dir.join("x");
    unpack(&ipk, &x);
    assert_eq!(fs::read(x.join("outer/debian-binary")).unwrap(), b"2.0\n");

    let files = [
        (
            "www/luci-static/resources/view/sipnat/settings.js",
            "htdocs/luci-static/resources/view/sipnat/settings.js",
        ),
        (
            "www/luci-static/resources/view/sipnat/status.js",
            "htdocs/luci-static/resources/view/sipnat/status.js",
        ),
        (
            "usr/share/luci/menu.d/luci-app-sipnat.json",
            "root/usr/share/luci/menu.d/luci-app-sipnat.json",
        ),
        (
            "usr/share/rpcd/acl.d/luci-app-sipnat.json",
            "root/usr/share/rpcd/acl.d/luci-app-sipnat.json",
        ),
    ];
    let data: Vec<String> = listing(&x.join("outer/data.tar.gz"))
        .into_iter()
        .filter(|l| !l.starts_with('d'))
        .collect();
    let mut want: Vec<String> = files
        .iter()
        .map(|(inside, _)| format!("-rw-r--r-- 0/0 ./{inside}"))
        .collect();
    want.sort();
    assert_eq!(data, want);
    for l in listing(&x.join("outer/data.tar.gz")) {
        assert!(
            l.starts_with("-rw-r--r-- 0/0 ") || l.starts_with("drwxr-xr-x 0/0 "),
            "{l}"
        );
    }
    let mut size = 0;
    for (inside, src) in files {
        let got = fs::read(x.join("data").join(inside)).unwrap();
        assert!(
            got == fs::read(app().join(src)).unwrap(),
            "{inside} is not {src}"
        );
        size += got.len();
    }

    let control = fs::read_to_string(x.join("control/control")).unwrap();
    let field = |k: &str| {
        control
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")))
            .unwrap_or_else(|| panic!("no {k} in\n{control}"))
            .to_owned()
    };
    assert_eq!(field("Package"), "luci-app-sipnat");
    assert_eq!(field("Version"), "0.1.0-r1");
    assert_eq!(field("Architecture"), "all");
    assert_eq!(field("Depends"), "sipnat, luci-base");
    assert_eq!(field("Section"), "luci");
    assert_eq!(field("License"), "GPL-2.0-or-later");
    assert_eq!(field("SourceDateEpoch"), EPOCH);
    assert_eq!(field("Installed-Size"), size.to_string());
    let makefile = fs::read_to_string(app().join("Makefile")).unwrap();
    let maintainer = field("Maintainer");
    assert!(maintainer.contains('@'), "{maintainer}");
    assert!(makefile.contains(&format!("\nPKG_MAINTAINER:={maintainer}\n")));
    // The SDK Makefile says the same version as Cargo.toml and the package.
    let cargo = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .unwrap()
        .trim_end_matches('"');
    assert!(
        makefile.contains(&format!("\nPKG_VERSION:={version}\n")),
        "{version}"
    );
    for line in [
        "LUCI_DEPENDS:=+sipnat +luci-base",
        "LUCI_PKGARCH:=all",
        "PKG_LICENSE:=GPL-2.0-or-later",
        "include ../../luci.mk",
    ] {
        assert!(makefile.contains(&format!("\n{line}\n")), "{line}");
    }

    assert_eq!(
        listing(&x.join("outer/control.tar.gz")),
        [
            "drwxr-xr-x 0/0 ./",
            "-rw-r--r-- 0/0 ./control",
            "-rwxr-xr-x 0/0 ./postinst"
        ]
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn postinst_clears_luci_caches_and_reloads_rpcd_only_on_the_router() {
    let dir = scratch("postinst");
    let ipk = build("0.1.0-r1", &dir.join("out"));
    let x = dir.join("x");
    unpack(&ipk, &x);
    let postinst = x.join("control/postinst");
    let text = fs::read_to_string(&postinst).unwrap();
    run(Command::new("sh").arg("-n").arg(&postinst));
    // Each action, inside the branch taken when IPKG_INSTROOT is empty.
    let body = text
        .split_once("[ -n \"${IPKG_INSTROOT}\" ] || {\n")
        .expect("the on-router branch")
        .1;
    for action in [
        "\trm -f /tmp/luci-indexcache*\n",
        "\trm -rf /tmp/luci-modulecache/\n",
        "\t/etc/init.d/rpcd reload 2>/dev/null\n",
        "\texit 0\n}\n",
    ] {
        assert!(body.contains(action), "{action:?} missing in\n{text}");
    }
    // In an image build (IPKG_INSTROOT set) it does nothing and succeeds:
    // with a PATH holding only a `rm` that records its calls, none is made.
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let log = dir.join("calls");
    fs::write(
        bin.join("rm"),
        format!("#!/bin/sh\necho \"rm $*\" >> '{}'\n", log.display()),
    )
    .unwrap();
    run(Command::new("chmod").arg("755").arg(bin.join("rm")));
    let o = Command::new("/bin/sh")
        .arg(&postinst)
        .arg("configure")
        .env("IPKG_INSTROOT", dir.join("image"))
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!log.exists(), "the postinst acted in an image build");
    // On the router (no IPKG_INSTROOT) it removes both caches through that
    // `rm` and succeeds even where /etc/init.d/rpcd does not exist.
    let o = Command::new("/bin/sh")
        .arg(&postinst)
        .arg("configure")
        .env_remove("IPKG_INSTROOT")
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let calls = fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].starts_with("rm -f /tmp/luci-indexcache"),
        "{calls:?}"
    );
    assert_eq!(calls[1], "rm -rf /tmp/luci-modulecache/");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn package_is_reproducible_and_refuses_bad_versions() {
    let dir = scratch("repro");
    let a = build("0.1.0-r1", &dir.join("a"));
    let o = mkipk_luci("0.1.0-r1", &dir.join("b"), "077");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let b = dir.join("b/luci-app-sipnat_0.1.0-r1_all.ipk");
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "two runs differ"
    );
    // gzip -n: no name, no time in any layer (RFC 1952 2.3).
    let x = dir.join("x");
    unpack(&a, &x);
    for gz in [
        a.clone(),
        x.join("outer/data.tar.gz"),
        x.join("outer/control.tar.gz"),
    ] {
        let head = fs::read(&gz).unwrap();
        assert_eq!(head[3] & 0x08, 0, "{} records a name", gz.display());
        assert_eq!(
            &head[4..8],
            &[0, 0, 0, 0],
            "{} records a time",
            gz.display()
        );
    }
    for (version, why) in [
        ("v1", "must start with a digit"),
        ("1 0", "characters opkg does not allow"),
    ] {
        let o = mkipk_luci(version, &dir.join("c"), "022");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{version}: {err}");
        assert!(err.contains(why), "{version}: {err}");
    }
    let o = Command::new("sh")
        .arg(root().join("openwrt/mkipk-luci.sh"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("usage: mkipk-luci.sh VERSION OUTDIR"));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn packing_scripts_are_shellcheck_clean() {
    if std::env::var_os("SIPNAT_SKIP_SHELLCHECK").is_some() {
        eprintln!("SIPNAT_SKIP_SHELLCHECK set: shellcheck not run");
        return;
    }
    let o = Command::new("shellcheck")
        .args(["-x", "-s", "sh", "mkipk-luci.sh", "ipk.sh", "mkipk.sh"])
        .current_dir(root().join("openwrt"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run shellcheck ({e}): tests/setup-deps.sh installs it (SIPNAT_SKIP_SHELLCHECK=1 skips)")
        });
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}
