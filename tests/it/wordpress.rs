//! WordPress end to end: install without wp-cli, login, page cache, hardening, wp-cron.

use std::process::Command;

use crate::support::*;

const WP: &str = "name: blog.wp.test\nkind: wordpress\ncache: fastcgi\nwordpress:\n  title: Lempctl Test Blog\n  admin_email: owner@wp.test\n";

fn curl(sb: &Sandbox, args: &[&str]) -> String {
    let host = "blog.wp.test";
    let out = Command::new("curl")
        .args(["-s", "--resolve"])
        .arg(format!("{host}:{}:127.0.0.1", sb.port))
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn url(sb: &Sandbox, path: &str) -> String {
    format!("http://blog.wp.test:{}{path}", sb.port)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}

fn wp_php(sb: &Sandbox, code: &str) -> String {
    let docroot = sb.path("/srv/www/blog.wp.test/htdocs");
    let out = Command::new("runuser")
        .args(["-u", "w_blog_wp_test", "--", "php", "-r"])
        .arg(format!(
            "$_SERVER['HTTP_HOST']='blog.wp.test'; require '{}/wp-load.php'; {code}",
            docroot.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_wordpress_site_installs_serves_logs_in_caches_and_runs_cron() {
    require!(
        &[
            "nginx",
            "php-fpm8.2",
            "php8.2",
            "mariadbd",
            "curl",
            "runuser",
        ],
        wordpress()
    );
    let sb = Sandbox::with_db().site("blog.yaml", WP).started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(
        v["changes"].to_string().contains("\"kind\":\"wordpress\""),
        "{v}"
    );
    // The dry-run plan never shows wp-config.php's secrets.
    assert!(
        !v.to_string().contains("DB_PASSWORD"),
        "a secret leaked into the report"
    );

    let home = curl(
        &sb,
        &["-D", "-", "-H", "Accept-Encoding: identity", &url(&sb, "/")],
    );
    assert!(home.starts_with("HTTP/1.1 200"), "{home}");
    assert!(home.contains("<title>Lempctl Test Blog"), "{home}");

    // Log in with the generated credentials.
    let secrets = sb.secrets("blog.wp.test");
    let pw = secrets["wp_admin_password"].as_str().unwrap();
    let jar = sb.root().join("cookies.txt");
    let jar = jar.to_str().unwrap();
    let login = curl(
        &sb,
        &[
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-c",
            jar,
            "-b",
            "wordpress_test_cookie=WP%20Cookie%20check",
            "--data-urlencode",
            "log=admin",
            "--data-urlencode",
            &format!("pwd={pw}"),
            "-d",
            "testcookie=1",
            &url(&sb, "/wp-login.php"),
        ],
    );
    assert!(login.starts_with("HTTP/1.1 302"), "{login}");
    assert_eq!(
        header(&login, "Location"),
        Some(url(&sb, "/wp-admin/").as_str()),
        "{login}"
    );
    let dash = curl(&sb, &["-b", jar, &url(&sb, "/wp-admin/")]);
    assert!(dash.contains("Dashboard"), "dashboard did not load");

    // Second apply: nothing changes, salts and passwords stay.
    let wpconfig = std::fs::read(sb.path("/srv/www/blog.wp.test/htdocs/wp-config.php")).unwrap();
    let (code, again, _) = sb.json(&["apply"]);
    assert_eq!(code, 0);
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(sb.secrets("blog.wp.test"), secrets);
    assert_eq!(
        std::fs::read(sb.path("/srv/www/blog.wp.test/htdocs/wp-config.php")).unwrap(),
        wpconfig
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(sb.path("/srv/www/blog.wp.test/htdocs/wp-config.php"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // Page cache: a HIT on the second anonymous view, stored gzipped, BYPASS when logged in or posting.
    let x = |args: &[&str]| {
        header(
            &curl(&sb, &[&["-D", "-", "-o", "/dev/null"][..], args].concat()),
            "X-Cache",
        )
        .map(str::to_owned)
    };
    let _ = x(&["-H", "Accept-Encoding: gzip", &url(&sb, "/")]);
    assert_eq!(
        x(&["-H", "Accept-Encoding: gzip", &url(&sb, "/")]).as_deref(),
        Some("HIT")
    );
    let gz = curl(
        &sb,
        &[
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-H",
            "Accept-Encoding: gzip",
            &url(&sb, "/"),
        ],
    );
    assert_eq!(header(&gz, "Content-Encoding"), Some("gzip"), "{gz}");
    let plain = curl(&sb, &["-H", "Accept-Encoding: identity", &url(&sb, "/")]);
    assert!(
        plain.contains("<title>Lempctl Test Blog"),
        "a hit is decompressed for clients without gzip"
    );
    assert_eq!(
        x(&[
            "-H",
            "Cookie: wordpress_logged_in_0123abcd=admin",
            &url(&sb, "/")
        ])
        .as_deref(),
        Some("BYPASS")
    );
    let cache = sb.path("/var/cache/nginx/lempctl/blog.wp.test");
    // A POST is never answered from, nor stored in, the cache (nginx caches only GET/HEAD).
    sb.lempctl()
        .args(["wp", "purge", "blog.wp.test"])
        .assert()
        .success();
    for _ in 0..2 {
        assert_ne!(x(&["-d", "a=1", &url(&sb, "/")]).as_deref(), Some("HIT"));
    }
    assert_eq!(
        x(&["-H", "Accept-Encoding: gzip", &url(&sb, "/")]).as_deref(),
        Some("MISS"),
        "the POSTs were not stored"
    );
    assert_eq!(
        x(&["-H", "Accept-Encoding: gzip", &url(&sb, "/?s=term")]).as_deref(),
        Some("BYPASS")
    );
    assert!(
        walkdir::WalkDir::new(&cache)
            .into_iter()
            .filter_map(Result::ok)
            .any(|e| e.file_type().is_file())
    );
    sb.lempctl()
        .args(["wp", "purge", "blog.wp.test"])
        .assert()
        .success();
    assert!(
        !walkdir::WalkDir::new(&cache)
            .into_iter()
            .filter_map(Result::ok)
            .any(|e| e.file_type().is_file()),
        "purge left files"
    );
    assert_eq!(
        x(&["-H", "Accept-Encoding: gzip", &url(&sb, "/")]).as_deref(),
        Some("MISS")
    );

    // Hardening: PHP in uploads never runs; wp-config.php and xmlrpc.php are not served.
    let uploads = sb.path("/srv/www/blog.wp.test/htdocs/wp-content/uploads/2026");
    std::fs::create_dir_all(&uploads).unwrap();
    std::fs::write(uploads.join("evil.php"), "<?php echo 'EXECUTED';").unwrap();
    let evil = curl(
        &sb,
        &["-D", "-", &url(&sb, "/wp-content/uploads/2026/evil.php")],
    );
    assert!(
        evil.starts_with("HTTP/1.1 403") && !evil.contains("EXECUTED"),
        "{evil}"
    );
    for p in ["/wp-config.php", "/xmlrpc.php"] {
        let r = curl(&sb, &["-D", "-", "-o", "/dev/null", &url(&sb, p)]);
        assert!(r.starts_with("HTTP/1.1 403"), "{p}: {r}");
    }

    // wp-cron: an event that is due runs when the timer's command runs.
    wp_php(
        &sb,
        "wp_schedule_single_event(time() - 60, 'lempctl_probe');",
    );
    assert_eq!(
        wp_php(
            &sb,
            "echo wp_next_scheduled('lempctl_probe') ? 'due' : 'none';"
        ),
        "due"
    );
    sb.lempctl()
        .args(["wp", "cron", "blog.wp.test"])
        .assert()
        .success();
    assert_eq!(
        wp_php(
            &sb,
            "echo wp_next_scheduled('lempctl_probe') ? 'due' : 'none';"
        ),
        "none"
    );
    let drop_in = std::fs::read_to_string(sb.path("/etc/cron.d/lempctl")).unwrap();
    assert!(
        drop_in.contains("*/5 * * * * root ") && drop_in.contains("wp cron blog.wp.test"),
        "{drop_in}"
    );

    // A new admin password works, the old one no longer does.
    let out = sb
        .lempctl()
        .args(["wp", "admin-password", "blog.wp.test", "--json"])
        .output()
        .unwrap();
    let new: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(new["password"].as_str().unwrap(), pw);
    assert_eq!(
        sb.secrets("blog.wp.test")["wp_admin_password"],
        new["password"]
    );
}

#[test]
fn bad_wordpress_input_is_refused_and_leaves_nothing_that_blocks_a_retry() {
    require!(&["nginx", "php-fpm8.2", "php8.2", "mariadbd"]);
    let sb = Sandbox::with_db();
    for (yaml, field) in [
        (
            "name: blog.wp.test\nkind: wordpress\nwordpress:\n  admin_email: not-an-address\n",
            "`wordpress.admin_email`",
        ),
        (
            "name: blog.wp.test\nkind: wordpress\nwordpress:\n  title: \"  \"\n",
            "`wordpress.title`",
        ),
        (
            "name: blog.wp.test\nkind: wordpress\nwordpress:\n  source: /usr/share/wordpress/wp-admin\n",
            "not a WordPress tree",
        ),
        (
            "name: blog.wp.test\nkind: wordpress\nwordpress:\n  source: /etc\n",
            "not under an allowed source root",
        ),
        (
            "name: blog.wp.test\nkind: wordpress\ncache: memcached\n",
            "`cache`",
        ),
        ("name: blog.wp.test\nkind: php\ncache: fastcgi\n", "`cache`"),
    ] {
        sb.write_site("blog.yaml", yaml);
        let before = sb.tree();
        let out = sb.lempctl().arg("apply").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {err}");
        assert!(err.contains(field), "{yaml}: expected {field:?} in {err}");
        assert_eq!(before, sb.tree());
    }
    // The database is unreachable (not started): exit 1, nothing written.
    sb.write_site("blog.yaml", WP);
    let before = sb.tree();
    let out = sb.lempctl().arg("apply").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unreachable"));
    assert_eq!(before, sb.tree());
    // Once it is up, the same site installs.
    let sb = sb.started();
    let (code, _, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    let home = curl(&sb, &["-H", "Accept-Encoding: identity", &url(&sb, "/")]);
    assert!(home.contains("<title>Lempctl Test Blog"));
}
