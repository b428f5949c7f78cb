//! Tests of `openwrt/Makefile`, the package for the OpenWrt SDK, and of
//! `openwrt/release-hash.sh`, which makes the release tarball the feed
//! layout downloads.
//!
//! There is no OpenWrt SDK here, so GNU make reads the Makefile against
//! stub SDK files written for this project (`tests/openwrt/sdk-stub`: a
//! rules.mk, an include/package.mk and the packages feed's
//! lang/rust/rust-package.mk) which keep the conventions the Makefile relies
//! on (where the build and install directories are, how the version is
//! formed for opkg and for apk, that a download must match PKG_HASH) and
//! turn BuildPackage into the targets `info`, `download`, `prepare` and
//! `install`. The tests check both layouts: the repository's (openwrt/
//! linked as package/sipnat: the working tree, nothing downloaded) and a
//! packages feed's (net/sipnat holding only the Makefile: the release
//! tarball, checked against PKG_HASH), and what apk packaging needs; and
//! the two packages it makes, sipnat and its variant sipnat-tls (the cargo
//! feature `tls`), against `openwrt/variants.sh`, the table the docker-free
//! packages are made from.
//!
//! What they do not do: run OpenWrt's own package.mk, download.pl,
//! ipkg-build or `apk mkpkg`, or compile with the SDK's Rust; the real
//! package is untested here. The rpcd plugin and ACL the Makefile installs
//! are added to the build directory when the tree lacks them (they come
//! with the LuCI work).
//!
//! Needs GNU make, git, tar, gzip and sha256sum.

#[path = "shrunk/mod.rs"]
mod shrunk;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stub_sdk() -> PathBuf {
    root().join("tests/openwrt/sdk-stub")
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sipnat-makefile-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap(); // the temp directory is writable
    dir
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().expect("command runs");
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// `make -C pkgdir TARGETS...` against the stub SDK, building in `work`.
/// The SDK builds a package with variants once per variant and names it
/// in BUILD_VARIANT; the base variant (the package sipnat) unless `args`
/// name another.
fn make(pkgdir: &Path, work: &Path, args: &[&str]) -> Output {
    let variant = if args.iter().any(|a| a.starts_with("BUILD_VARIANT=")) {
        None
    } else {
        Some("BUILD_VARIANT=base")
    };
    Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(pkgdir)
        .arg(format!("TOPDIR={}", stub_sdk().display()))
        .arg(format!("BUILD_DIR={}", work.join("build").display()))
        .arg(format!("DL_DIR={}", work.join("dl").display()))
        .arg(format!("DEST={}", work.join("dest").display()))
        .arg(format!(
            "SIPNAT_TEST_MIRROR={}",
            work.join("mirror").display()
        ))
        .args(variant)
        .args(args)
        .output()
        .expect("make runs")
}

/// The `info` lines as (name, value) pairs.
fn info(pkgdir: &Path, work: &Path, args: &[&str]) -> Vec<(String, String)> {
    let mut a = vec!["info"];
    a.extend_from_slice(args);
    let o = make(pkgdir, work, &a);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn get<'a>(info: &'a [(String, String)], k: &str) -> &'a str {
    info.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {k} in {info:?}"))
}

/// What `cargo install` would leave, plus the LuCI backend files when the
/// tree does not have them yet.
fn fake_build_output(build: &Path) {
    fs::create_dir_all(build.join("ipkg-install/bin")).unwrap();
    fs::write(build.join("ipkg-install/bin/sipnat"), "fake sipnat\n").unwrap();
    for f in ["sipnat.rpcd", "sipnat.acl.json"] {
        let p = build.join("openwrt/files").join(f);
        if !p.exists() {
            fs::write(p, format!("stand-in for {f}\n")).unwrap();
        }
    }
}

/// "mode path" of every file under `dest`, sorted.
fn installed(dest: &Path) -> Vec<String> {
    let o = run(Command::new("find")
        .arg(".")
        .args(["-type", "f", "-printf", "%m %p\\n"])
        .current_dir(dest));
    let mut v: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

const INSTALLED: [&str; 8] = [
    "644 ./etc/config/sipnat",
    "644 ./usr/share/nftables.d/chain-pre/forward/30-sipnat.nft",
    "644 ./usr/share/rpcd/acl.d/sipnat.json",
    "644 ./usr/share/sipnat/sipnat.default",
    "755 ./etc/init.d/sipnat",
    "755 ./etc/uci-defaults/90-sipnat",
    "755 ./usr/libexec/rpcd/sipnat",
    "755 ./usr/sbin/sipnat",
];

#[test]
fn repository_layout_builds_the_working_tree() {
    let work = scratch("repo");
    // openwrt/ itself, and openwrt/ linked into an SDK as package/sipnat.
    let sdk_pkg = work.join("sdk/package");
    fs::create_dir_all(&sdk_pkg).unwrap();
    std::os::unix::fs::symlink(root().join("openwrt"), sdk_pkg.join("sipnat")).unwrap();
    for pkgdir in [root().join("openwrt"), sdk_pkg.join("sipnat")] {
        let i = info(&pkgdir, &work, &[]);
        assert_eq!(get(&i, "SIPNAT_SRC"), root().to_str().unwrap());
        assert_eq!(get(&i, "PKG_SOURCE"), "", "nothing to download");
        assert_eq!(get(&i, "PKG_SOURCE_URL"), "");
    }
    let i = info(&root().join("openwrt"), &work, &[]);
    let build = PathBuf::from(get(&i, "PKG_BUILD_DIR"));
    let o = make(&root().join("openwrt"), &work, &["prepare"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The tree, without its history and build output.
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        "init.d/sipnat",
        "LICENSE",
    ] {
        assert!(build.join(f).is_file(), "{f} not copied");
    }
    assert!(!build.join(".git").exists());
    assert!(!build.join("target").exists());
    fake_build_output(&build);
    let o = make(&root().join("openwrt"), &work, &["install"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(installed(&work.join("dest")), INSTALLED);
    let same = |inside: &str, src: &str| {
        assert!(
            fs::read(work.join("dest").join(inside)).unwrap()
                == fs::read(root().join(src)).unwrap(),
            "{inside} is not {src}"
        );
    };
    same("etc/config/sipnat", "uci-config/sipnat");
    same("usr/share/sipnat/sipnat.default", "uci-config/sipnat");
    // The scripts as openwrt/mkipk.sh packs them: without their comments.
    for (inside, src) in [
        ("etc/init.d/sipnat", "init.d/sipnat"),
        (
            "etc/uci-defaults/90-sipnat",
            "openwrt/files/sipnat.uci-defaults",
        ),
        ("usr/libexec/rpcd/sipnat", "openwrt/files/sipnat.rpcd"),
        (
            "usr/share/nftables.d/chain-pre/forward/30-sipnat.nft",
            "openwrt/files/sipnat.nft",
        ),
    ] {
        assert!(
            fs::read(work.join("dest").join(inside)).unwrap()
                == shrunk::shrunk(&fs::read(root().join(src)).unwrap()),
            "{inside} is not {src} shrunk"
        );
    }
    let _ = fs::remove_dir_all(&work);
}

/// A copy of the Makefile alone in a packages feed's net/sipnat, next to
/// the feed's lang/rust.
fn feed_with(makefile: &Path, work: &Path) -> PathBuf {
    let pkgdir = work.join("feed/net/sipnat");
    fs::create_dir_all(&pkgdir).unwrap();
    fs::copy(makefile, pkgdir.join("Makefile")).unwrap();
    let rust = work.join("feed/lang/rust");
    fs::create_dir_all(&rust).unwrap();
    fs::copy(
        stub_sdk().join("feeds/packages/lang/rust/rust-package.mk"),
        rust.join("rust-package.mk"),
    )
    .unwrap();
    pkgdir
}

#[test]
fn feed_layout_without_a_release_says_so_and_builds_nothing() {
    let work = scratch("feed-unreleased");
    let pkgdir = feed_with(&root().join("openwrt/Makefile"), &work);
    let i = info(&pkgdir, &work, &[]);
    assert_eq!(get(&i, "SIPNAT_SRC"), "", "a feed is not a sipnat tree");
    assert_eq!(get(&i, "PKG_SOURCE"), "sipnat-0.1.0.tar.gz");
    // Filled in at release: never "skip".
    assert_eq!(get(&i, "PKG_HASH"), "");
    assert_eq!(get(&i, "PKG_SOURCE_URL"), "");
    let o = make(&pkgdir, &work, &["prepare"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("sipnat: no release to download"), "{err}");
    assert!(
        !work
            .join("build/sipnat-base/sipnat-0.1.0/Cargo.toml")
            .exists()
    );

    // SIPNAT_SRC on the command line builds a tree in the feed layout too.
    let i = info(
        &pkgdir,
        &work,
        &[&format!("SIPNAT_SRC={}", root().display())],
    );
    assert_eq!(get(&i, "PKG_SOURCE"), "");
    let _ = fs::remove_dir_all(&work);
}

/// A clone of this repository's last commit (what is committed, not the
/// working tree) with the tag `tag`.
fn tagged_clone(work: &Path, tag: &str) -> PathBuf {
    let clone = work.join("clone");
    let head = run(Command::new("git")
        .arg("-C")
        .arg(root())
        .args(["rev-parse", "HEAD"]));
    let head = String::from_utf8(head.stdout).unwrap();
    run(Command::new("git")
        .args([
            "clone",
            "-q",
            "--no-tags",
            "--no-checkout",
            "--no-hardlinks",
        ])
        .arg(root())
        .arg(&clone));
    run(Command::new("git").arg("-C").arg(&clone).args([
        "checkout",
        "-q",
        "--detach",
        head.trim(),
    ]));
    run(Command::new("git")
        .arg("-C")
        .arg(&clone)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
        .args(["tag", tag]));
    clone
}

fn release_hash(clone: &Path, args: &[&str]) -> Output {
    Command::new("sh")
        .arg(root().join("openwrt/release-hash.sh"))
        .arg("--repo")
        .arg(clone)
        .args(args)
        .output()
        .expect("sh runs")
}

#[test]
fn a_release_tarball_is_what_the_feed_layout_downloads_and_builds() {
    let work = scratch("feed-release");
    let clone = tagged_clone(&work, "v0.1.0");
    let mirror = work.join("mirror");
    let url = "https://example.org/sipnat/releases/download/v0.1.0";
    let o = release_hash(
        &clone,
        &["--out", mirror.to_str().unwrap(), "--write", url, "v0.1.0"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = said.lines().collect();
    let tarball = mirror.join("sipnat-0.1.0.tar.gz");
    assert_eq!(lines[0], tarball.to_str().unwrap());
    let hash = lines[1]
        .strip_prefix("PKG_HASH:=")
        .expect("a PKG_HASH line");
    let sum = run(Command::new("sha256sum").arg(&tarball));
    assert!(String::from_utf8(sum.stdout).unwrap().starts_with(hash));
    assert_eq!(hash.len(), 64);

    // Every file under sipnat-0.1.0/, the tag's tree.
    let list =
        String::from_utf8(run(Command::new("tar").arg("-tzf").arg(&tarball)).stdout).unwrap();
    assert!(
        list.lines().all(|l| l.starts_with("sipnat-0.1.0/")),
        "{list}"
    );
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        "openwrt/Makefile",
        "LICENSE",
        "src/main.rs",
    ] {
        assert!(
            list.lines().any(|l| l == format!("sipnat-0.1.0/{f}")),
            "{f}"
        );
    }
    // The same tag gives the same bytes.
    let again = work.join("again");
    let o = release_hash(&clone, &["--out", again.to_str().unwrap(), "v0.1.0"]);
    assert!(o.status.success());
    assert!(fs::read(&tarball).unwrap() == fs::read(again.join("sipnat-0.1.0.tar.gz")).unwrap());

    // --write filled in the feed block; the rest of the Makefile is as it was.
    let written = fs::read_to_string(clone.join("openwrt/Makefile")).unwrap();
    let original = String::from_utf8(
        run(Command::new("git")
            .arg("-C")
            .arg(&clone)
            .args(["show", "HEAD:openwrt/Makefile"]))
        .stdout,
    )
    .unwrap();
    assert!(written.contains(&format!("\n  PKG_SOURCE_URL:={url}\n")));
    assert!(written.contains(&format!("\n  PKG_HASH:={hash}\n")));
    let diff: Vec<(&str, &str)> = original
        .lines()
        .zip(written.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(diff.len(), 2, "{diff:?}");

    // The feed downloads it (checked against PKG_HASH), unpacks it and
    // installs from it.
    let pkgdir = feed_with(&clone.join("openwrt/Makefile"), &work);
    let i = info(&pkgdir, &work, &[]);
    assert_eq!(get(&i, "PKG_SOURCE_URL"), url);
    assert_eq!(get(&i, "PKG_HASH"), hash);
    let o = make(&pkgdir, &work, &["download", "prepare"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let build = work.join("build/sipnat-base/sipnat-0.1.0");
    assert!(build.join("Cargo.toml").is_file());
    fake_build_output(&build);
    let o = make(&pkgdir, &work, &["install"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(installed(&work.join("dest")), INSTALLED);

    // A tarball that is not the release fails the download.
    let mut bytes = fs::read(&tarball).unwrap();
    let n = bytes.len();
    bytes[n - 9] ^= 1; // the last byte of the compressed data
    fs::write(&tarball, bytes).unwrap();
    let _ = fs::remove_dir_all(work.join("dl"));
    let o = make(&pkgdir, &work, &["download"]);
    assert!(!o.status.success(), "a changed tarball was accepted");
    let _ = fs::remove_dir_all(&work);
}

#[test]
fn release_hash_refuses_tags_that_are_not_the_version() {
    let work = scratch("release-refuse");
    let clone = tagged_clone(&work, "v0.2.0");
    let out = work.join("out");
    for (tag, why) in [
        ("v0.2.0", "Cargo.toml says version 0.1.0"),
        ("v0.1.0", "no tag v0.1.0"),
        ("0.1.0", "is not v<version>"),
    ] {
        let o = release_hash(&clone, &["--out", out.to_str().unwrap(), tag]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{tag}: {err}");
        assert!(err.contains(why), "{tag}: {err}");
    }
    assert!(!out.join("sipnat-0.2.0.tar.gz").exists());
    let _ = fs::remove_dir_all(&work);
}

/// apk's version form (apk-tools' version.c): digits and dots, an optional
/// letter, suffixes like _rc1, then -rN.
fn apk_version_ok(v: &str) -> bool {
    let (main, release) = match v.rsplit_once("-r") {
        Some((m, r)) => (m, Some(r)),
        None => (v, None),
    };
    if let Some(r) = release {
        if r.is_empty() || !r.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    let (numbers, suffixes) = match main.split_once('_') {
        Some((n, s)) => (n, Some(s)),
        None => (main, None),
    };
    let numbers = numbers
        .strip_suffix(|c: char| c.is_ascii_lowercase())
        .unwrap_or(numbers);
    let numbers_ok = !numbers.is_empty()
        && numbers
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let suffixes_ok = suffixes.is_none_or(|s| {
        s.split('_').all(|x| {
            let name = x.trim_end_matches(|c: char| c.is_ascii_digit());
            ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"].contains(&name)
        })
    });
    numbers_ok && suffixes_ok
}

#[test]
fn the_makefile_has_what_apk_packaging_needs() {
    assert!(apk_version_ok("0.1.0-r1"));
    assert!(apk_version_ok("1.2.3_rc2-r10"));
    assert!(!apk_version_ok("0.1.0-1"));
    assert!(!apk_version_ok("v0.1.0-r1"));
    assert!(!apk_version_ok("0.1.0~git-r1"));

    let work = scratch("apk");
    let opkg = info(&root().join("openwrt"), &work, &[]);
    let apk = info(&root().join("openwrt"), &work, &["CONFIG_USE_APK=y"]);
    assert_eq!(get(&opkg, "VERSION"), "0.1.0-1");
    let v = get(&apk, "VERSION");
    assert_eq!(v, "0.1.0-r1");
    assert!(apk_version_ok(v), "{v}");
    assert!(
        get(&apk, "PKG_RELEASE").bytes().all(|b| b.is_ascii_digit()),
        "PKG_RELEASE is a plain number for apk's -rN"
    );
    // The version the docker-free packages use is apk's form too.
    assert!(apk_version_ok("0.1.0-r1"));
    // Cargo.toml and the Makefile agree on the version.
    let cargo = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(cargo.contains(&format!("\nversion = \"{}\"\n", get(&apk, "PKG_VERSION"))));
    // apk writes USERID to lib/apk/packages/sipnat.rusers and the
    // conffiles to .conffiles; a maintainer address is required.
    assert_eq!(get(&apk, "USERID"), "sipnat:sipnat");
    assert_eq!(get(&apk, "CONFFILES"), "/etc/config/sipnat");
    assert_eq!(
        get(&apk, "PKG_MAINTAINER"),
        "sipnat developers <sipnat@users.noreply.github.com>"
    );

    // Nothing opkg-only: OpenWrt generates the maintainer scripts for both
    // package managers (default_postinst/default_prerm), apk refuses a
    // package whose CONTROL directory is not empty after the conffiles
    // moved, and /usr/lib/opkg does not exist on an apk system.
    let mk = fs::read_to_string(root().join("openwrt/Makefile")).unwrap();
    for (n, line) in mk.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        for word in ["opkg", "CONTROL", "IPKG_", "ipkg-build"] {
            assert!(!line.contains(word), "line {}: {line}", n + 1);
        }
        for script in ["preinst", "postinst", "prerm", "postrm"] {
            // Neither package (sipnat, sipnat-tls) has its own.
            assert!(
                !(line.starts_with("define Package/sipnat")
                    && line.trim_end().ends_with(&format!("/{script}"))),
                "line {}: own {script}: {line}",
                n + 1
            );
        }
    }
    let _ = fs::remove_dir_all(&work);
}

/// One row of `openwrt/variants.sh`: variant, package, cargo features,
/// package dependencies, provides (= conflicts), description words.
#[derive(Debug)]
struct Variant {
    name: String,
    package: String,
    features: String,
    depends: String,
    provides: String,
    title: String,
}

/// Every variant, from the table the docker-free packages are made from.
fn variants() -> Vec<Variant> {
    let o = run(Command::new("sh")
        .arg("-c")
        .arg(
            ". openwrt/variants.sh; for v in $SIPNAT_VARIANTS; do \
             printf '%s|%s|%s|%s|%s|%s\\n' \"$v\" \"$(sipnat_variant_package \"$v\")\" \
             \"$(sipnat_variant_features \"$v\")\" \"$(sipnat_variant_depends \"$v\")\" \
             \"$(sipnat_variant_provides \"$v\")\" \"$(sipnat_variant_title \"$v\")\"; done",
        )
        .current_dir(root()));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            assert_eq!(f.len(), 6, "{l}");
            Variant {
                name: f[0].to_owned(),
                package: f[1].to_owned(),
                features: f[2].to_owned(),
                depends: f[3].to_owned(),
                provides: f[4].to_owned(),
                title: f[5].to_owned(),
            }
        })
        .collect()
}

/// The Makefile's packages are the table's variants (wpad-style: VARIANT,
/// PROVIDES, CONFLICTS, DEPENDS), each built with its cargo features in a
/// build directory of its own, and each installs the same files.
#[test]
fn the_variants_are_the_tables_and_install_the_same_files() {
    let vs = variants();
    let names: Vec<&str> = vs.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["base", "tls"]);
    // The variants the Makefile declares, and no other.
    let mk = fs::read_to_string(root().join("openwrt/Makefile")).unwrap();
    let declared: Vec<&str> = mk
        .lines()
        .filter_map(|l| l.trim().strip_prefix("VARIANT:="))
        .collect();
    assert_eq!(declared, names);
    // Every feature a variant names is one of Cargo.toml's.
    let cargo = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    for v in &vs {
        for f in v.features.split(',').filter(|f| !f.is_empty()) {
            assert!(
                cargo.contains(&format!("\n{f} = [")),
                "{v:?}: no feature {f}"
            );
        }
    }

    let base_work = scratch("variant-base");
    let base = info(&root().join("openwrt"), &base_work, &[]);
    let mut trees = Vec::new();
    for v in &vs {
        let work = scratch(&format!("variant-{}", v.name));
        let arg = format!("BUILD_VARIANT={}", v.name);
        let i = info(&root().join("openwrt"), &work, &[&arg]);
        assert_eq!(get(&i, "NAME"), v.package, "{v:?}");
        assert_eq!(get(&i, "VARIANT"), v.name);
        assert_eq!(get(&i, "RUST_PKG_FEATURES"), v.features);
        assert_eq!(get(&i, "PROVIDES"), v.provides);
        assert_eq!(get(&i, "CONFLICTS"), v.provides);
        // The base is the default variant (what `+sipnat` selects first).
        let default = if v.name == "base" { "1" } else { "" };
        assert_eq!(get(&i, "DEFAULT_VARIANT"), default);
        let mut depends = get(&base, "DEPENDS").to_owned();
        for d in v.depends.split(',').filter(|d| !d.is_empty()) {
            depends.push_str(&format!(" +{d}"));
        }
        assert_eq!(get(&i, "DEPENDS"), depends);
        let title = match v.title.as_str() {
            "" => get(&base, "TITLE").to_owned(),
            t => format!("{} {t}", get(&base, "TITLE")),
        };
        assert_eq!(get(&i, "TITLE"), title);
        for same in ["USERID", "CONFFILES", "VERSION", "CARGO_PKG_VARS"] {
            assert_eq!(get(&i, same), get(&base, same), "{same}");
        }
        // Its own build directory, as the SDK gives each variant.
        let build = PathBuf::from(get(&i, "PKG_BUILD_DIR"));
        assert_eq!(
            build,
            work.join(format!("build/sipnat-{}/sipnat-0.1.0", v.name))
        );
        // rust-package.mk's cargo command: --features only for a variant
        // that has some.
        let o = make(&root().join("openwrt"), &work, &[&arg, "compile"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let cmd = String::from_utf8(o.stdout).unwrap();
        if v.features.is_empty() {
            assert!(!cmd.contains("--features"), "{cmd}");
        } else {
            assert!(
                cmd.contains(&format!("--features \"{}\"", v.features)),
                "{cmd}"
            );
        }
        assert!(cmd.contains(&format!("--root {}/ipkg-install", build.display())));
        let o = make(&root().join("openwrt"), &work, &[&arg, "prepare"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(build.join("Cargo.toml").is_file());
        fake_build_output(&build);
        let o = make(&root().join("openwrt"), &work, &[&arg, "install"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(installed(&work.join("dest")), INSTALLED, "{v:?}");
        trees.push(work);
    }
    // The same bytes in every variant's package.
    for f in INSTALLED {
        let f = f.split_once(' ').unwrap().1;
        let first = fs::read(trees[0].join("dest").join(f)).unwrap();
        for t in &trees[1..] {
            assert!(first == fs::read(t.join("dest").join(f)).unwrap(), "{f}");
        }
    }
    // A variant the Makefile does not have: nothing to build.
    let o = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(root().join("openwrt"))
        .arg(format!("TOPDIR={}", stub_sdk().display()))
        .arg(format!("BUILD_DIR={}", base_work.join("build").display()))
        .arg("BUILD_VARIANT=nossl")
        .arg("info")
        .output()
        .unwrap();
    assert!(!o.status.success());
    for t in trees.iter().chain([&base_work]) {
        let _ = fs::remove_dir_all(t);
    }
}
