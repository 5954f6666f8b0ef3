//! A hostile site against lempctl running as root. The attacker is the site's own user: it plants
//! links (owned by itself, as its PHP would make them) and FIFOs in its tree, once or in a loop
//! while lempctl runs. Every test checks that the link's target outside the site — a root-only
//! file or directory — keeps its owner, mode and content, and that the run either refused with a
//! clear error or converged without following the link.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::backup;
use crate::support::*;

const PHP: &str = "php.example.test";

/// Owner, mode and content of a path (a directory's listing with each entry's content).
fn fingerprint(p: &Path) -> String {
    let m = std::fs::symlink_metadata(p).unwrap();
    let mut out = format!("{} {} {:o}", m.uid(), m.gid(), m.mode());
    if m.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for n in names {
            out.push_str(&format!("\n{}: {}", n.display(), fingerprint(&n)));
        }
    } else {
        out.push_str(&format!(" {:?}", std::fs::read(p).unwrap()));
    }
    out
}

/// A root-only file and directory outside every site, as targets for the links.
fn targets(sb: &Sandbox) -> (PathBuf, PathBuf) {
    let file = sb.path("/etc/shadow-like");
    std::fs::write(&file, "root:secret-hash\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dir = sb.path("/etc/root-only");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(dir.join("key.pem"), "private key\n").unwrap();
    (file, dir)
}

fn uid_of(sb: &Sandbox, site: &str) -> (u32, u32) {
    let user = sb.show(site)["user"].as_str().unwrap().to_owned();
    let u = nix::unistd::User::from_name(&user).unwrap().unwrap();
    (u.uid.as_raw(), u.gid.as_raw())
}

/// `link → target`, owned by the site user (as if its PHP had made it).
fn plant(link: &Path, target: &Path, owner: (u32, u32)) {
    let _ = std::fs::remove_file(link);
    if link.is_dir() && !link.is_symlink() {
        std::fs::remove_dir_all(link).unwrap();
    }
    std::os::unix::fs::symlink(target, link).unwrap();
    std::os::unix::fs::lchown(link, Some(owner.0), Some(owner.1)).unwrap();
}

fn php_site() -> Need<Sandbox> {
    programs(WEB)?;
    let sb = Sandbox::new().site("php.yaml", PHP_SITE).started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    Ok(sb)
}

#[test]
fn a_site_directory_swapped_for_a_link_is_refused_not_followed() {
    let sb = require!(php_site());
    let (_, dir) = targets(&sb);
    let before = fingerprint(&dir);
    let owner = uid_of(&sb, PHP);
    let logs = sb.path(&format!("/srv/www/{PHP}/logs"));
    plant(&logs, &dir, owner);

    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 1, "{err}\n{v}");
    let msg = v["error"]["message"].to_string();
    assert!(msg.contains("refusing to follow a symbolic link"), "{v}");
    assert_eq!(
        fingerprint(&dir),
        before,
        "the link's target was not touched"
    );
    assert!(
        logs.is_symlink(),
        "the run was rolled back, not half applied"
    );
    // The site still serves: the refusal rolled everything back.
    assert_eq!(sb.get(PHP, "/").status, 200);
}

#[test]
fn links_planted_while_apply_runs_are_never_followed() {
    let sb = require!(php_site());
    let (file, dir) = targets(&sb);
    let (before_file, before_dir) = (fingerprint(&file), fingerprint(&dir));
    let owner = uid_of(&sb, PHP);
    let site = sb.path(&format!("/srv/www/{PHP}"));
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let (stop, site, dir, file) = (stop.clone(), site.clone(), dir.clone(), file.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // every directory and file lempctl manages in the tree, in turn
                for name in ["logs", "tmp", "sessions", "upload-tmp", "htdocs/index.php"] {
                    let p = site.join(name);
                    let aside = site.join(format!("{}.aside", name.replace('/', "_")));
                    if std::fs::rename(&p, &aside).is_ok() {
                        let target = if name.contains('.') { &file } else { &dir };
                        let _ = std::os::unix::fs::symlink(target, &p);
                        let _ = std::os::unix::fs::lchown(&p, Some(owner.0), Some(owner.1));
                        std::thread::sleep(Duration::from_millis(2));
                        let _ = std::fs::remove_file(&p);
                        let _ = std::fs::rename(&aside, &p);
                        swaps += 1;
                    }
                }
            }
            swaps
        })
    };
    let mut results = Vec::new();
    for i in 0..6 {
        // a changed pool makes each run write and reload, and re-check every directory
        sb.write_site(
            "php.yaml",
            &format!("{PHP_SITE}php:\n  max_children: {}\n", 3 + i % 2),
        );
        let out = sb.lempctl().args(["apply", "--force"]).output().unwrap();
        results.push(out.status.code());
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = racer.join().unwrap();
    assert!(swaps > 10, "the racer ran ({swaps} swaps)");
    assert_eq!(fingerprint(&file), before_file, "runs: {results:?}");
    assert_eq!(fingerprint(&dir), before_dir, "runs: {results:?}");
    // once the attacker stops, the host converges
    let (code, v, err) = sb.json(&["apply", "--force"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(sb.get(PHP, "/").status, 200);
}

#[test]
fn a_fifo_in_place_of_a_managed_file_fails_fast_and_releases_the_lock() {
    let sb = require!(php_site());
    let vhost = sb.path(&format!("/etc/nginx/sites-available/{PHP}.conf"));
    std::fs::remove_file(&vhost).unwrap();
    nix::unistd::mkfifo(&vhost, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();

    let started = Instant::now();
    let mut child = std::process::Command::new(bin())
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .arg("--root")
        .arg(sb.root())
        .args(["--json", "apply"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("apply blocked on the FIFO");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("FIFO"), "{text}");
    // the lock is free again: the next run (FIFO gone) converges at once
    std::fs::remove_file(&vhost).unwrap();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(sb.get(PHP, "/").status, 200);
}

#[test]
fn restore_in_place_writes_through_no_planted_link() {
    let (sb, _repo) = require!(backup::setup());
    let (file, dir) = targets(&sb);
    let (before_file, before_dir) = (fingerprint(&file), fingerprint(&dir));
    let (code, v, err) = sb.json(&["backup", "run", backup::NAME]);
    assert_eq!(code, 0, "{err}\n{v}");
    let owner = uid_of(&sb, backup::NAME);
    let docroot = sb.path(&format!("/srv/www/{}/htdocs", backup::NAME));
    // after the backup, the attacker turns a file and a directory of the backup into links
    plant(&docroot.join("index.php"), &file, owner);
    plant(&docroot.join("uploads"), &dir, owner);

    let (code, v, err) = sb.json(&["backup", "restore", backup::NAME, "--yes"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(fingerprint(&file), before_file);
    assert_eq!(fingerprint(&dir), before_dir);
    assert!(!docroot.join("index.php").is_symlink());
    assert!(!docroot.join("uploads").is_symlink());
    assert_eq!(docroot.join("uploads/2024").read_dir().unwrap().count(), 50);
    assert_eq!(sb.get(backup::NAME, "/").body.trim(), "shop-3");
    // nothing of the restore's staging is left beside the sites
    let left: Vec<_> = std::fs::read_dir(sb.path("/srv/www"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".lempctl"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn links_in_a_backup_stay_links_in_restore_as_and_the_purge_archive() {
    let (sb, _repo) = require!(backup::setup());
    let (file, dir) = targets(&sb);
    let (before_file, before_dir) = (fingerprint(&file), fingerprint(&dir));
    let owner = uid_of(&sb, backup::NAME);
    let docroot = sb.path(&format!("/srv/www/{}/htdocs", backup::NAME));
    plant(&docroot.join("leak.txt"), &file, owner);
    plant(&docroot.join("leakdir"), &dir, owner);

    // the backup records the links as links, never their targets
    let (code, v, err) = sb.json(&["backup", "run", backup::NAME]);
    assert_eq!(code, 0, "{err}\n{v}");
    const COPY: &str = "copy.backup.test";
    let (code, v, err) = sb.json(&["backup", "restore", backup::NAME, "--as", COPY]);
    assert_eq!(code, 0, "{err}\n{v}");
    let copy = sb.path(&format!("/srv/www/{COPY}/htdocs"));
    assert_eq!(std::fs::read_link(copy.join("leak.txt")).unwrap(), file);
    assert_eq!(std::fs::read_link(copy.join("leakdir")).unwrap(), dir);
    let copy_owner = uid_of(&sb, COPY);
    let m = std::fs::symlink_metadata(copy.join("leak.txt")).unwrap();
    assert_eq!(
        m.uid(),
        copy_owner.0,
        "the copied link belongs to the new site"
    );

    // purge archives the tree with links as links
    let (code, v, err) = sb.json(&["site", "remove", backup::NAME, "--purge", "--yes"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let archives: Vec<_> = std::fs::read_dir(sb.path("/var/lib/lempctl/archive"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.to_string_lossy().contains(backup::NAME) && p.to_string_lossy().ends_with(".tar.zst")
        })
        .collect();
    assert_eq!(archives.len(), 1, "{archives:?}");
    let listing = std::process::Command::new("tar")
        .arg("--zstd")
        .arg("-tvf")
        .arg(&archives[0])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    let leak = listing
        .lines()
        .find(|l| l.contains("leak.txt"))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(leak.starts_with('l'), "{leak}");
    assert!(!listing.contains("key.pem"), "{listing}");
    assert_eq!(fingerprint(&file), before_file);
    assert_eq!(fingerprint(&dir), before_dir);
}

#[test]
fn site_logs_are_readable_by_their_writer_and_the_log_group_only() {
    let sb = require!(php_site());
    let adm = nix::unistd::Group::from_name("adm")
        .unwrap()
        .unwrap()
        .gid
        .as_raw();
    // nginx has appended to them since, and kept what lempctl set
    assert_eq!(sb.get(PHP, "/").status, 200);
    // nginx's logs belong to its worker user (nginx hands them over when a rotation reopens
    // them), PHP-FPM's to root; the group is the log group, others get nothing
    let www = nix::unistd::User::from_name("www-data")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    for (log, uid) in [
        (format!("/var/log/nginx/{PHP}.access.log"), www),
        (format!("/var/log/nginx/{PHP}.error.log"), www),
        (format!("/var/log/php/{PHP}.slow.log"), 0),
    ] {
        let p = sb.path(&log);
        let m = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{log}: {e}"));
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o777),
            (uid, adm, 0o640),
            "{log}"
        );
    }
    let access = sb.path(&format!("/var/log/nginx/{PHP}.access.log"));
    assert!(std::fs::read_to_string(&access).unwrap().contains("GET /"));
    // a site user (this site's own, or any other) cannot read them
    let user = sb.show(PHP)["user"].as_str().unwrap().to_owned();
    let out = std::process::Command::new("runuser")
        .args(["-u", &user, "--", "cat"])
        .arg(&access)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // a second run leaves them alone
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(
        (code, &v["changed"]),
        (0, &serde_json::Value::Bool(false)),
        "{err}\n{v}"
    );
}
