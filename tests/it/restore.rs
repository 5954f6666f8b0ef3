//! Restores from the sysadmin's side: the copy made by `restore --as` opens with the password
//! lempctl stored for it, and a restore in place does not leave stale pages in the page cache.

use std::process::Command;

use crate::support::*;

const BLOG: &str = "name: blog.rs.test\nkind: wordpress\ncache: fastcgi\nwordpress:\n  title: Source Blog\n  admin_email: owner@rs.test\n";

fn curl(sb: &Sandbox, host: &str, args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "--resolve"])
        .arg(format!("{host}:{}:127.0.0.1", sb.port))
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}

/// Logs in as `admin` on `host`; returns the response head.
fn login(sb: &Sandbox, host: &str, password: &str) -> String {
    let url = format!("http://{host}:{}/wp-login.php", sb.port);
    curl(
        sb,
        host,
        &[
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-b",
            "wordpress_test_cookie=WP%20Cookie%20check",
            "--data-urlencode",
            "log=admin",
            "--data-urlencode",
            &format!("pwd={password}"),
            "-d",
            "testcookie=1",
            &url,
        ],
    )
}

/// `(X-Cache, body)` of an anonymous view of the home page.
fn home(sb: &Sandbox, host: &str) -> (String, String) {
    let url = format!("http://{host}:{}/", sb.port);
    let out = curl(sb, host, &["-i", "-H", "Accept-Encoding: identity", &url]);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        header(head, "X-Cache").unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

#[test]
fn restore_as_password_logs_in_and_restore_in_place_purges_the_page_cache() {
    require!(
        &[
            "nginx",
            "php-fpm8.2",
            "php8.2",
            "mariadbd",
            "mariadb",
            "restic",
            "curl",
            "useradd",
        ],
        wordpress()
    );
    let sb = Sandbox::with_db();
    sb.append_global("backup:\n  repository: /var/backups/lempctl\n");
    let sb = sb.site("blog.yaml", BLOG).started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let (code, v, err) = sb.json(&["backup", "init"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let (code, v, err) = sb.json(&["backup", "run", "blog.rs.test"]);
    assert_eq!(code, 0, "{err}\n{v}");

    // `--as`: the copy's admin logs in with the password stored for the copy, not the source's.
    let (code, v, err) = sb.json(&["backup", "restore", "blog.rs.test", "--as", "copy.rs.test"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["admin_password_set"], true, "{v}");
    let source_pw = sb.secrets("blog.rs.test")["wp_admin_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let copy_pw = sb.secrets("copy.rs.test")["wp_admin_password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(copy_pw, source_pw);
    let ok = login(&sb, "copy.rs.test", &copy_pw);
    assert!(ok.starts_with("HTTP/1.1 302"), "{ok}");
    let admin = format!("copy.rs.test:{}/wp-admin/", sb.port);
    assert!(
        header(&ok, "Location").is_some_and(|l| l.ends_with(&admin)),
        "{ok}"
    );
    let refused = login(&sb, "copy.rs.test", &source_pw);
    assert!(!refused.starts_with("HTTP/1.1 302"), "{refused}");
    // The source keeps its own.
    assert!(login(&sb, "blog.rs.test", &source_pw).starts_with("HTTP/1.1 302"));

    // In place, `--db-only`: a hacked title cached as a HIT is gone after the restore.
    let db = sb.show("blog.rs.test")["database"]
        .as_str()
        .unwrap()
        .to_owned();
    sb.sql_root(&format!(
        "UPDATE `{db}`.wp_options SET option_value = 'Hacked Blog' WHERE option_name = 'blogname'"
    ));
    sb.lempctl()
        .args(["wp", "purge", "blog.rs.test"])
        .assert()
        .success();
    let _ = home(&sb, "blog.rs.test");
    let (cache, body) = home(&sb, "blog.rs.test");
    assert_eq!(cache, "HIT");
    assert!(body.contains("Hacked Blog"), "{body}");
    let (code, v, err) = sb.json(&["backup", "restore", "blog.rs.test", "--db-only", "--yes"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["database_restored"], true, "{v}");
    assert!(v["cache_entries_purged"].as_u64().unwrap() > 0, "{v}");
    let (cache, body) = home(&sb, "blog.rs.test");
    assert_ne!(cache, "HIT", "a stale page was served");
    assert!(
        body.contains("Source Blog") && !body.contains("Hacked Blog"),
        "{body}"
    );
}

/// A run another host took (a fleet's site move) restored in place: owned by this host's site
/// user whatever the snapshot's uids, this host's wp-config.php kept, what the live site gained
/// kept, and a link the (hostile) site planted restored as a link — its target untouched.
#[test]
fn a_run_from_another_host_is_restored_with_this_hosts_owner_and_config_and_no_link_followed() {
    require!(
        &[
            "nginx",
            "php-fpm8.2",
            "php8.2",
            "mariadbd",
            "mariadb",
            "restic",
            "curl",
            "useradd",
            "unshare",
        ],
        wordpress()
    );
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let sb = Sandbox::with_db();
    sb.append_global("backup:\n  repository: /var/backups/lempctl\n");
    let sb = sb.site("blog.yaml", BLOG).started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let docroot = sb.path("/srv/www/blog.rs.test/htdocs");
    let owner = std::fs::metadata(&docroot).unwrap();
    // a root-only secret, and the site's link to it; a file of a uid this host does not have
    let secret = sb.path("/etc/lempctl/secret");
    std::fs::write(&secret, "top secret\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&secret, docroot.join("evil")).unwrap();
    std::fs::write(docroot.join("uploaded.txt"), "from the old host\n").unwrap();
    std::os::unix::fs::chown(docroot.join("uploaded.txt"), Some(54321), Some(54321)).unwrap();

    // the run is taken by "another host": the same tree, another host name
    let out = Command::new("unshare")
        .args([
            "--uts",
            "sh",
            "-c",
            "hostname otherhost && exec \"$0\" \"$@\"",
        ])
        .arg(bin())
        .arg("--root")
        .arg(sb.root())
        .args(["backup", "run", "blog.rs.test", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, list, _) = sb.json(&["backup", "list", "blog.rs.test"]);
    assert_eq!(
        list.as_array().unwrap().last().unwrap()["host"],
        "otherhost",
        "{list}"
    );

    // this host: the upload gone, a file of its own, its own wp-config.php
    std::fs::remove_file(docroot.join("uploaded.txt")).unwrap();
    std::fs::remove_file(docroot.join("evil")).unwrap();
    std::fs::write(docroot.join("live-only.txt"), "written here\n").unwrap();
    let config = std::fs::read(docroot.join("wp-config.php")).unwrap();
    let config_meta = std::fs::metadata(docroot.join("wp-config.php")).unwrap();
    let (code, v, err) = sb.json(&["backup", "restore", "blog.rs.test", "--files-only", "--yes"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["files_restored"], true, "{v}");

    let up = std::fs::metadata(docroot.join("uploaded.txt")).unwrap();
    assert_eq!((up.uid(), up.gid() != 54321), (owner.uid(), true));
    assert_eq!(up.mode() & 0o7777, 0o640);
    assert_eq!(
        std::fs::read_to_string(docroot.join("uploaded.txt")).unwrap(),
        "from the old host\n"
    );
    assert_eq!(std::fs::read_link(docroot.join("evil")).unwrap(), secret);
    let s = std::fs::metadata(&secret).unwrap();
    assert_eq!((s.uid(), s.mode() & 0o7777), (0, 0o600));
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "top secret\n");
    assert_eq!(
        std::fs::read(docroot.join("wp-config.php")).unwrap(),
        config
    );
    let c = std::fs::metadata(docroot.join("wp-config.php")).unwrap();
    assert_eq!((c.uid(), c.mode()), (config_meta.uid(), config_meta.mode()));
    assert_eq!(
        std::fs::read_to_string(docroot.join("live-only.txt")).unwrap(),
        "written here\n"
    );
    assert!(sb.get("blog.rs.test", "/").is_served());
    // and nothing to converge afterwards: the managed files are as apply left them
    let (code, v, err) = sb.json(&["apply", "--dry-run"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["changed"], false, "{v}");
}
