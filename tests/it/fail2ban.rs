//! fail2ban from the sysadmin's side: jails per attack class for every site, tested by the real
//! `fail2ban-client -t` before a run counts, and filters checked with `fail2ban-regex` against
//! log lines the sandbox's real nginx wrote for real requests.

use std::process::Command;

use crate::support::*;

const NEED: &[&str] = &[
    "nginx",
    "php-fpm8.2",
    "useradd",
    "fail2ban-client",
    "fail2ban-regex",
    "curl",
];

fn with_fail2ban(sb: &Sandbox, yaml: &str) {
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(&g, format!("{text}{yaml}")).unwrap();
}

/// `fail2ban-regex LOG FILTER`: how many lines matched.
fn matched(log: &std::path::Path, filter: &std::path::Path) -> usize {
    let out = Command::new("fail2ban-regex")
        .arg(log)
        .arg(filter)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("Lines:"))
        .unwrap_or_else(|| panic!("{text}"));
    line.split(',')
        .find(|p| p.contains("matched"))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

fn request(sb: &Sandbox, host: &str, method: &str, path: &str, data: Option<&str>) {
    let mut c = Command::new("curl");
    c.args(["-s", "-o", "/dev/null", "-X", method])
        .arg("--resolve")
        .arg(format!("{host}:{}:127.0.0.1", sb.port));
    if let Some(d) = data {
        c.args(["-d", d]);
    }
    assert!(
        c.arg(format!("http://{host}:{}{path}", sb.port))
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn jails_cover_every_site_and_filters_match_real_attack_lines_only() {
    require!(NEED);
    let sb = Sandbox::new()
        .site("a.f2b.test.yaml", "name: a.f2b.test\nkind: php\n")
        .site("b.f2b.test.yaml", "name: b.f2b.test\nkind: static\n")
        .site(
            "c.f2b.test.yaml",
            "name: c.f2b.test\nkind: static\nsecurity:\n  fail2ban: false\n",
        )
        .started();
    with_fail2ban(
        &sb,
        "fail2ban:\n  banaction: dummy\n  backend: polling\n  ignoreip: [192.0.2.0/24]\n",
    );
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");
    let jails = std::fs::read_to_string(sb.path("/etc/fail2ban/jail.d/lempctl.local")).unwrap();
    // one jail per attack class, each listing the logs of every site that needs it
    assert_eq!(jails.matches("[lempctl-scan]").count(), 1, "{jails}");
    assert!(
        jails.contains("a.f2b.test.access.log") && jails.contains("b.f2b.test.access.log"),
        "{jails}"
    );
    assert!(
        !jails.contains("c.f2b.test"),
        "a site that opted out is not watched: {jails}"
    );
    assert!(
        !jails.contains("[lempctl-wp-login]"),
        "no WordPress site, no wp-login jail: {jails}"
    );
    assert!(
        jails.contains("ignoreip = 127.0.0.1/8 ::1 192.0.2.0/24"),
        "{jails}"
    );

    // a login form that answers a failure 200 and a success 302, as WordPress does
    std::fs::write(
        sb.path("/srv/www/a.f2b.test/htdocs/wp-login.php"),
        "<?php if (($_POST['pwd'] ?? '') === 'right') { header('Location: /wp-admin/', true, 302); } else { echo 'login form'; }",
    )
    .unwrap();
    for _ in 0..6 {
        request(
            &sb,
            "a.f2b.test",
            "POST",
            "/wp-login.php",
            Some("log=admin&pwd=wrong"),
        );
    }
    for _ in 0..2 {
        request(
            &sb,
            "a.f2b.test",
            "POST",
            "/wp-login.php",
            Some("log=admin&pwd=right"),
        );
    }
    for p in ["/", "/index.php", "/wp-login.php", "/about"] {
        request(&sb, "a.f2b.test", "GET", p, None);
    }
    for p in [
        "/.env",
        "/.git/config",
        "/wp-config.php.bak",
        "/phpmyadmin/index.php",
        "/vendor/phpunit/x.php",
    ] {
        request(&sb, "a.f2b.test", "GET", p, None);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = sb.path("/var/log/nginx/a.f2b.test.access.log");
    let filter = |f: &str| sb.path(&format!("/etc/fail2ban/filter.d/{f}.conf"));
    assert_eq!(
        matched(&log, &filter("lempctl-wp-login")),
        6,
        "failed logins only, no success, no page view"
    );
    assert_eq!(matched(&log, &filter("lempctl-scan")), 5, "the probes only");
    assert_eq!(matched(&log, &filter("lempctl-xmlrpc")), 0);

    // basic-auth failures, from a sysadmin's override of the static template
    let users = sb.path("/etc/nginx/test-htpasswd");
    std::fs::write(&users, "admin:{PLAIN}right\n").unwrap();
    let static_tpl = include_str!("../../templates/nginx/kind/static.conf.j2").replace(
        "    location / {",
        &format!(
            "    location /private/ {{\n        auth_basic \"private\";\n        auth_basic_user_file {};\n    }}\n\n    location / {{",
            users.display()
        ),
    );
    sb.write(
        "/etc/lempctl/templates/nginx/kind/static.conf.j2",
        &static_tpl,
    );
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");
    for (user, expect) in [
        ("admin:wrong", 401),
        ("nobody:x", 401),
        ("admin:right", 404),
    ] {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", user])
            .arg("--resolve")
            .arg(format!("b.f2b.test:{}:127.0.0.1", sb.port))
            .arg(format!("http://b.f2b.test:{}/private/x", sb.port))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expect.to_string(),
            "{user}"
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        matched(
            &sb.path("/var/log/nginx/b.f2b.test.error.log"),
            &filter("nginx-http-auth")
        ),
        2,
        "the wrong password and the unknown user, not the right login"
    );

    // a second apply changes nothing
    let (code, v, _) = sb.json(&["apply"]);
    assert_eq!((code, &v["changed"]), (0, &serde_json::json!(false)), "{v}");

    // a removed site leaves the jails; the others stay watched
    std::fs::remove_file(sb.path("/etc/lempctl/sites.d/b.f2b.test.yaml")).unwrap();
    let (code, v, err) = sb.json(&["apply", "--prune"]);
    assert_eq!(code, 0, "{v} {err}");
    let jails = std::fs::read_to_string(sb.path("/etc/fail2ban/jail.d/lempctl.local")).unwrap();
    assert!(
        !jails.contains("b.f2b.test") && jails.contains("a.f2b.test.access.log"),
        "{jails}"
    );
}

#[test]
fn a_jail_file_fail2ban_refuses_is_rolled_back() {
    require!(NEED);
    let sb = Sandbox::new()
        .site("a.f2b.test.yaml", "name: a.f2b.test\nkind: static\n")
        .started();
    with_fail2ban(&sb, "fail2ban:\n  banaction: dummy\n  backend: polling\n");
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");
    let jail = sb.path("/etc/fail2ban/jail.d/lempctl.local");
    let good = std::fs::read_to_string(&jail).unwrap();
    sb.write(
        "/etc/lempctl/templates/fail2ban/jail.local.j2",
        "# {{ sites }}\n[lempctl-broken]\nenabled = true\nfilter = no-such-filter\nlogpath = /nonexistent.log\n",
    );
    let out = sb.lempctl().arg("apply").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("fail2ban-client"), "fail2ban is named: {err}");
    assert_eq!(std::fs::read_to_string(&jail).unwrap(), good, "rolled back");
}

#[test]
fn bad_fail2ban_settings_are_refused_and_change_nothing() {
    require!(&["nginx"]);
    for (yaml, want) in [
        ("fail2ban:\n  bantime: forever\n", "`fail2ban.bantime`"),
        ("fail2ban:\n  findtime: 1.5h\n", "`fail2ban.findtime`"),
        (
            "fail2ban:\n  ignoreip: [not-an-address]\n",
            "`fail2ban.ignoreip[0]`",
        ),
        ("fail2ban:\n  maxretry: 0\n", "`fail2ban.maxretry`"),
        ("fail2ban:\n  banaction: bogus\n", "`fail2ban.banaction`"),
    ] {
        let sb = Sandbox::new().site("a.f2b.test.yaml", "name: a.f2b.test\nkind: static\n");
        with_fail2ban(&sb, yaml);
        let before = sb.tree();
        let out = sb.lempctl().arg("apply").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {err}");
        assert!(err.contains(want), "{yaml}: {err}");
        assert_eq!(sb.tree(), before, "nothing written");
    }
}

#[test]
fn the_sandboxs_fail2ban_bans_from_the_logs_after_a_rotation_and_security_unban_lifts_it() {
    require!(NEED, &["logrotate"]);
    let sb = Sandbox::new().site("a.f2b.test.yaml", "name: a.f2b.test\nkind: static\n");
    with_fail2ban(
        &sb,
        "fail2ban:\n  banaction: dummy\n  backend: polling\n  maxretry: 2\n",
    );
    let sb = sb.started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");
    let (code, st, err) = sb.json(&["security", "status"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        st["running"], true,
        "sandbox start runs a private fail2ban: {st}"
    );
    let jails: Vec<&str> = st["jails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["jail"].as_str().unwrap())
        .collect();
    assert!(
        jails.contains(&"lempctl-scan") && jails.contains(&"recidive"),
        "{st}"
    );
    // the logs are rotated first: fail2ban must keep reading the new file
    let log = sb.path("/var/log/nginx/a.f2b.test.access.log");
    let rotated = Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(sb.path("/var/lib/logrotate.status"))
        .arg(sb.path("/etc/logrotate.d/lempctl"))
        .output()
        .unwrap();
    assert!(rotated.status.success(), "{rotated:?}");
    assert!(
        sb.path("/var/log/nginx/a.f2b.test.access.log.1").exists(),
        "rotated"
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // a scanner (a documentation address: 127.0.0.0/8 is never banned) probes for secrets
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let now = chrono::Utc::now().format("%d/%b/%Y:%H:%M:%S +0000");
    for p in [
        "/.env",
        "/.git/config",
        "/wp-config.php.bak",
        "/.env.local",
        "/phpmyadmin/",
    ] {
        use std::io::Write;
        writeln!(
            f,
            "192.0.2.9 - - [{now}] \"GET {p} HTTP/1.1\" 403 146 \"-\" \"scanner\""
        )
        .unwrap();
    }
    drop(f);
    let start = std::time::Instant::now();
    let banned =
        |sb: &Sandbox| {
            let (_, st, _) = sb.json(&["security", "status"]);
            st["jails"].as_array().unwrap().iter().any(|j| {
                j["jail"] == "lempctl-scan" && j["banned"].to_string().contains("192.0.2.9")
            })
        };
    while !banned(&sb) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no ban"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    eprintln!(
        "banned {:.1} s after the last line",
        start.elapsed().as_secs_f64()
    );
    let (code, v, err) = sb.json(&["security", "unban", "192.0.2.9"]);
    assert_eq!((code, &v["jails"]), (0, &serde_json::json!(1)), "{v} {err}");
    assert!(!banned(&sb), "unbanned");
    let out = sb
        .lempctl()
        .args(["security", "unban", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// curl with `--resolve` to the sandbox's port, from `from` (an address on the namespace's
/// loopback); the status code, or `None` when no HTTP answer came within two seconds.
fn request_from(
    ns: &Netns,
    sb: &Sandbox,
    from: &str,
    method: &str,
    path: &str,
    data: &[&str],
) -> Option<u16> {
    let host = "blog.f2b.test";
    let mut c = ns.cmd("curl");
    c.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "2",
    ])
    .args(["--interface", from, "-X", method])
    .arg("--resolve")
    .arg(format!("{host}:{}:127.0.0.1", sb.port));
    for d in data {
        c.args(["--data-urlencode", d]);
    }
    let out = c
        .arg(format!("http://{host}:{}{path}", sb.port))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .parse()
        .ok()
        .filter(|c| *c != 0)
}

#[test]
fn a_wordpress_brute_forcer_is_banned_by_nftables_in_a_namespace_and_unban_lets_it_back() {
    require!(
        &[
            "nginx",
            "php-fpm8.2",
            "mariadbd",
            "fail2ban-client",
            "fail2ban-regex",
            "nft",
            "unshare",
            "nsenter",
            "ip",
            "curl",
        ],
        wordpress()
    );
    // 192.0.2.2 is the attacker, 127.0.0.1 (never banned: ignoreip) the sysadmin
    let ns = Netns::new(&["192.0.2.2/32"]);
    let sb = Sandbox::with_db().in_netns(&ns).site(
        "blog.yaml",
        "name: blog.f2b.test\nkind: wordpress\nwordpress:\n  title: Ban Test\n  admin_email: owner@f2b.test\n  xmlrpc: true\n",
    );
    with_fail2ban(
        &sb,
        "fail2ban:\n  backend: polling\n  maxretry: 3\n  bantime: 10m\n",
    );
    let sb = sb.started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");
    let jails = std::fs::read_to_string(sb.path("/etc/fail2ban/jail.d/lempctl.local")).unwrap();
    assert!(
        jails.contains("banaction = nftables-multiport")
            && jails.contains(&format!("port = {},{}", sb.port, sb.port + 1)),
        "nftables on the ports nginx listens on: {jails}"
    );

    // the filters against the lines real WordPress requests wrote: every attack, nothing else
    let pw = sb.secrets("blog.f2b.test")["wp_admin_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let ok = |from, method, path, data: &[&str]| request_from(&ns, &sb, from, method, path, data);
    let login = |from, pwd: &str| {
        ok(
            from,
            "POST",
            "/wp-login.php",
            &["log=admin", &format!("pwd={pwd}")],
        )
    };
    assert_eq!(login("127.0.0.1", &pw), Some(302), "a real login succeeds");
    for p in ["/", "/wp-login.php", "/?p=1", "/wp-json/"] {
        assert!(ok("127.0.0.1", "GET", p, &[]).is_some());
    }
    let mut failed = 0;
    let mut limited = 0;
    for _ in 0..14 {
        match login("127.0.0.1", "wrong") {
            Some(200) => failed += 1,
            Some(429) => limited += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(failed >= 5 && limited >= 2, "{failed} {limited}");
    for _ in 0..2 {
        ok(
            "127.0.0.1",
            "POST",
            "/xmlrpc.php",
            &[
                "<?xml version=\"1.0\"?><methodCall><methodName>system.listMethods</methodName></methodCall>",
            ],
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let access = sb.path("/var/log/nginx/blog.f2b.test.access.log");
    let error = sb.path("/var/log/nginx/blog.f2b.test.error.log");
    let filter = |f: &str| sb.path(&format!("/etc/fail2ban/filter.d/{f}.conf"));
    assert_eq!(
        matched(&access, &filter("lempctl-wp-login")),
        failed,
        "each failed login and nothing else (no success, no page view, no 429)"
    );
    assert_eq!(matched(&access, &filter("lempctl-xmlrpc")), 2);
    assert_eq!(matched(&access, &filter("lempctl-scan")), 0);
    assert_eq!(
        matched(
            &error,
            std::path::Path::new("/etc/fail2ban/filter.d/nginx-limit-req.conf")
        ),
        limited,
        "each request limit_req refused"
    );

    // the attacker: three failed logins, then fail2ban's nftables rule shuts it out
    for _ in 0..3 {
        assert_eq!(login("192.0.2.2", "guess"), Some(200));
    }
    let start = std::time::Instant::now();
    let banned = |sb: &Sandbox| {
        let (_, st, _) = sb.json(&["status"]);
        st["jails"].as_array().unwrap().iter().any(|j| {
            j["jail"] == "lempctl-wp-login" && j["banned"].to_string().contains("192.0.2.2")
        })
    };
    while !banned(&sb) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no ban"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    eprintln!(
        "banned {:.1} s after the third failure",
        start.elapsed().as_secs_f64()
    );
    let rules = ns.cmd("nft").args(["list", "ruleset"]).output().unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(rules.contains("192.0.2.2"), "{rules}");
    assert_eq!(
        ok("192.0.2.2", "GET", "/", &[]),
        None,
        "no answer for the banned address"
    );
    assert_eq!(
        ok("127.0.0.1", "GET", "/", &[]),
        Some(200),
        "others still served"
    );

    let (code, v, err) = sb.json(&["security", "unban", "192.0.2.2"]);
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(ok("192.0.2.2", "GET", "/", &[]), Some(200), "let back in");
}
