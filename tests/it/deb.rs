//! The Debian package (`scripts/build-deb`, docs/packaging.md): built from the test's binary,
//! checked by lintian, installed on this machine with `dpkg -i`, used, installed again (an upgrade
//! keeps the edited conffile), and purged, which leaves
//! the user's site files and lempctl's state in place. It changes the machine (CI's is
//! throwaway) and puts it back: the package is purged at the end, also when an assertion fails.

use std::path::{Path, PathBuf};

use crate::support::*;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = assert_cmd::Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn installed() -> bool {
    run("dpkg-query", &["-W", "-f=${Status}", "lempctl"])
        .1
        .contains("ok installed")
}

/// Purges the package when the test ends, however it ends, and removes what the test itself
/// left in the user's places (a site file, a state record).
struct Purge(Vec<PathBuf>);

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = run("dpkg", &["--purge", "lempctl"]);
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_dir(Path::new("/etc/lempctl/sites.d"));
        let _ = std::fs::remove_dir(Path::new("/etc/lempctl"));
        let _ = std::fs::remove_dir(Path::new("/var/lib/lempctl"));
    }
}

#[test]
fn deb_builds_passes_lintian_installs_works_and_purges_keeping_site_data() {
    require!(
        &["dpkg", "dpkg-deb", "lintian", "cargo-deb", "man", "gzip"],
        WEB
    );
    // This test owns the package and /etc/lempctl on this machine while it runs.
    assert!(
        !installed() && !Path::new("/etc/lempctl").exists(),
        "lempctl is installed (or /etc/lempctl exists) on this machine: this test installs and purges the package; run it on a throwaway machine"
    );

    // The package from the binary `cargo test` built (scripts/build-deb --no-build --profile dev).
    let target = bin().parent().unwrap().parent().unwrap().to_path_buf();
    let out = assert_cmd::Command::new(repo().join("scripts/build-deb"))
        .args(["--no-build", "--profile", "dev"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deb = PathBuf::from(stdout.lines().last().unwrap().trim());
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("lempctl_") && name.ends_with("_amd64.deb"),
        "{name}"
    );

    // What is in it: binary, conffiles, completions, man pages, docs.
    let (ok, contents) = run("dpkg-deb", &["--contents", deb.to_str().unwrap()]);
    assert!(ok, "{contents}");
    for path in [
        "./usr/bin/lempctl",
        "./etc/lempctl/lempctl.yaml",
        "./etc/lempctl/sites.d/README",
        "./usr/share/bash-completion/completions/lempctl",
        "./usr/share/zsh/vendor-completions/_lempctl",
        "./usr/share/fish/vendor_completions.d/lempctl.fish",
        "./usr/share/man/man1/lempctl.1.gz",
        "./usr/share/man/man1/lempctl-site-create.1.gz",
        "./usr/share/doc/lempctl/copyright",
        "./usr/share/doc/lempctl/configuration.md",
        "./usr/share/doc/lempctl/examples/sites.d/php.example.test.yaml",
    ] {
        assert!(
            contents.contains(path),
            "{path} not in the package:\n{contents}"
        );
    }
    let (ok, control) = run("dpkg-deb", &["--field", deb.to_str().unwrap()]);
    assert!(ok, "{control}");
    assert!(
        control.contains("Depends: ") && control.contains("nginx"),
        "{control}"
    );
    let (_, conffiles) = run("dpkg-deb", &["--info", deb.to_str().unwrap(), "conffiles"]);
    assert!(
        conffiles.contains("/etc/lempctl/lempctl.yaml"),
        "{conffiles}"
    );

    // lintian: no errors (warnings and notes are listed in docs/packaging.md).
    let (_, lint) = run(
        "lintian",
        &["--tag-display-limit", "0", deb.to_str().unwrap()],
    );
    let errors: Vec<&str> = lint.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{lint}");

    // Installed on this machine.
    let site_file = PathBuf::from("/etc/lempctl/sites.d/mine.example.test.yaml");
    let state_note = PathBuf::from("/var/lib/lempctl/kept-by-purge");
    let _purge = Purge(vec![site_file.clone(), state_note.clone()]);
    let (ok, log) = run("dpkg", &["-i", deb.to_str().unwrap()]);
    assert!(ok, "dpkg -i: {log}");
    assert!(installed());

    let (ok, version) = run("/usr/bin/lempctl", &["--version"]);
    assert!(ok, "{version}");
    assert!(
        version.starts_with(&format!("lempctl {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let (ok, page) = run("man", &["-P", "cat", "lempctl"]);
    assert!(ok && page.contains("lempctl"), "man lempctl: {page}");
    let (ok, path) = run("man", &["-w", "lempctl-site-create"]);
    assert!(ok, "{path}");
    let bash = std::fs::read_to_string("/usr/share/bash-completion/completions/lempctl").unwrap();
    assert!(
        bash.contains("_lempctl_sites"),
        "bash completion completes site names"
    );
    let (ok, out) = run(
        "bash",
        &[
            "-c",
            "source /usr/share/bash-completion/completions/lempctl && complete -p lempctl",
        ],
    );
    assert!(ok && out.contains("_lempctl_sites"), "{out}");

    // The installed binary converges a site (in a sandbox: the machine's own nginx is not ours).
    let dir = tempfile::Builder::new()
        .prefix("lempctl-it-deb-")
        .tempdir()
        .unwrap();
    let sb_root = dir.path().to_path_buf();
    let port = free_port().to_string();
    let (ok, out) = run(
        "/usr/bin/lempctl",
        &[
            "sandbox",
            "init",
            sb_root.to_str().unwrap(),
            "--no-mariadb",
            "--port",
            &port,
        ],
    );
    assert!(ok, "{out}");
    let root = sb_root.to_str().unwrap();
    std::fs::write(
        sb_root.join("etc/lempctl/sites.d/static.example.test.yaml"),
        "name: static.example.test\nkind: static\n",
    )
    .unwrap();
    let (ok, out) = run("/usr/bin/lempctl", &["--root", root, "sandbox", "start"]);
    assert!(ok, "{out}");
    let (ok, out) = run("/usr/bin/lempctl", &["--root", root, "apply"]);
    let served = http_get(port.parse().unwrap(), "static.example.test", "/", &[]);
    let _ = run("/usr/bin/lempctl", &["--root", root, "sandbox", "stop"]);
    assert!(ok, "{out}");
    assert_eq!(served.status, 200, "{served:?}");

    // An upgrade (the package installed again) keeps the admin's edit of the conffile, the
    // site files and lempctl's state.
    std::fs::write(&site_file, "name: mine.example.test\nkind: static\n").unwrap();
    std::fs::create_dir_all("/var/lib/lempctl").unwrap();
    std::fs::write(&state_note, "state").unwrap();
    let conf = Path::new("/etc/lempctl/lempctl.yaml");
    let edited = format!(
        "{}php_version: \"8.2\"\n",
        std::fs::read_to_string(conf).unwrap()
    );
    std::fs::write(conf, &edited).unwrap();
    let (ok, log) = run("dpkg", &["-i", deb.to_str().unwrap()]);
    assert!(ok, "dpkg -i again: {log}");
    assert_eq!(std::fs::read_to_string(conf).unwrap(), edited, "{log}");
    assert!(site_file.exists() && state_note.exists());

    // Purge: the package's files go, the user's site file and lempctl's state stay.
    let (ok, log) = run("dpkg", &["--purge", "lempctl"]);
    assert!(ok, "dpkg --purge: {log}");
    assert!(!installed());
    for gone in [
        "/usr/bin/lempctl",
        "/etc/lempctl/lempctl.yaml",
        "/usr/share/man/man1/lempctl.1.gz",
        "/usr/share/bash-completion/completions/lempctl",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} left after purge");
    }
    assert!(site_file.exists(), "purge removed the user's site file");
    assert!(state_note.exists(), "purge removed lempctl's state");
}
