use crate::support::*;

#[test]
fn php_and_static_sites_are_served_and_second_apply_changes_nothing() {
    require!(WEB);
    let sb = Sandbox::new()
        .site("php.example.test.yaml", PHP_SITE)
        .site("static.example.test.yaml", STATIC_SITE)
        .started();
    let (code, first, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(first["changed"], true);
    let php = sb.get("php.example.test", "/");
    assert_eq!(php.status, 200, "{php:?}");
    assert!(
        php.body.contains("This PHP site is served by lempctl"),
        "{}",
        php.body
    );
    assert!(
        php.headers.contains("X-Content-Type-Options: nosniff"),
        "{}",
        php.headers
    );
    assert_eq!(sb.get("www.php.example.test", "/").status, 200);
    let st = sb.get("static.example.test", "/");
    assert_eq!(st.status, 200);
    assert!(st.body.contains("This static site is served by lempctl"));
    // PHP really runs as the site's own user.
    sb.write(
        "/srv/www/php.example.test/htdocs/whoami.php",
        "<?php echo posix_getpwuid(posix_geteuid())['name'];",
    );
    assert_eq!(
        sb.get("php.example.test", "/whoami.php").body.trim(),
        "w_php_example_test"
    );

    let before = sb.tree();
    let (code, second, _) = sb.json(&["apply"]);
    assert_eq!(code, 0);
    assert_eq!(
        second,
        serde_json::json!({"changed": false, "changes": [], "warnings": [], "error": null})
    );
    assert_eq!(before, sb.tree(), "an unchanged apply wrote files");
}

#[test]
fn dry_run_changes_nothing_and_lists_exactly_what_apply_does() {
    require!(WEB);
    let sb = Sandbox::new()
        .site("php.example.test.yaml", PHP_SITE)
        .site("static.example.test.yaml", STATIC_SITE)
        .started();
    let before = sb.tree();
    let (code, plan, err) = sb.json(&["apply", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(before, sb.tree(), "--dry-run changed the tree");
    assert_eq!(plan["changed"], true);
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["diff"].as_str().is_some_and(|d| d.contains("+server {"))),
        "plan has diffs"
    );
    let (code, done, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    let key = |v: &serde_json::Value| -> Vec<String> {
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| format!("{} {} {}", c["action"], c["kind"], c["target"]))
            .collect()
    };
    assert_eq!(key(&plan), key(&done));
    // The human dry run prints unified diffs too.
    sb.write_site(
        "php.example.test.yaml",
        &format!("{PHP_SITE}php:\n  memory_limit: 512M\n"),
    );
    let out = sb.lempctl().args(["apply", "--dry-run"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("-php_admin_value[memory_limit] = 256M")
            && text.contains("+php_admin_value[memory_limit] = 512M"),
        "{text}"
    );
}

#[test]
fn php_of_one_site_cannot_read_another_site() {
    require!(WEB);
    let sb = Sandbox::new()
        .site("a.yaml", "name: a.isolation.test\nkind: php\n")
        .site("b.yaml", "name: b.isolation.test\nkind: php\n")
        .started();
    sb.lempctl().arg("apply").assert().success();
    let secret = sb.path("/srv/www/b.isolation.test/htdocs/secret.txt");
    std::fs::write(&secret, "B-SECRET").unwrap();
    let probe = format!(
        r#"<?php
$t = '{}';
echo @file_get_contents($t) === false ? "denied-basedir\n" : "READ\n";
ini_set('open_basedir', '');
echo is_readable($t) ? "READ\n" : "denied-perms\n";
"#,
        secret.display()
    );
    sb.write("/srv/www/a.isolation.test/htdocs/probe.php", &probe);
    let r = sb.get("a.isolation.test", "/probe.php");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("denied-basedir"), "{}", r.body);
    assert!(!r.body.contains("READ"), "{}", r.body);
    // Unix permissions alone also keep site A out (checked as A's user, without open_basedir).
    let out = std::process::Command::new("runuser")
        .args(["-u", "w_a_isolation_test", "--", "cat"])
        .arg(&secret)
        .output()
        .unwrap();
    assert!(!out.status.success(), "site A's user read site B's file");
    // While site B itself reads it.
    sb.write(
        "/srv/www/b.isolation.test/htdocs/own.php",
        &format!("<?php echo file_get_contents('{}');", secret.display()),
    );
    assert_eq!(sb.get("b.isolation.test", "/own.php").body, "B-SECRET");
}

#[test]
fn concurrent_applies_take_turns_on_the_lock() {
    require!(WEB);
    let sb = Sandbox::new()
        .site("php.example.test.yaml", PHP_SITE)
        .site("static.example.test.yaml", STATIC_SITE)
        .started();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let mut c = std::process::Command::new(bin());
            c.env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .arg("--root")
                .arg(sb.root())
                .args(["apply", "--json"]);
            std::thread::spawn(move || c.output().unwrap())
        })
        .collect();
    let outs: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for o in &outs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // One run did the work, the other found nothing left to do.
    let changed: Vec<bool> = outs
        .iter()
        .map(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["changed"] == true)
        .collect();
    assert_eq!(changed.iter().filter(|c| **c).count(), 1, "{changed:?}");
    assert_eq!(sb.get("php.example.test", "/").status, 200);
    // A held lock with --wait 0 is refused, naming the holder.
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(sb.path("/var/lib/lempctl/lock"))
        .unwrap();
    let held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock).unwrap();
    sb.write_site(
        "static.example.test.yaml",
        "name: static.example.test\nkind: static\naliases: [www.static.example.test]\n",
    );
    let out = sb
        .lempctl()
        .args(["apply", "--wait", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds the lock"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(held);
    let (code, v, _) = sb.json(&["apply"]);
    assert_eq!(code, 0);
    assert_eq!(v["changed"], true);
    assert_eq!(sb.get("www.static.example.test", "/").status, 200);
}

#[test]
fn tls_site_redirects_to_https_and_sends_hsts() {
    require!(&["nginx", "php-fpm8.2", "openssl", "curl"]);
    let sb = Sandbox::new();
    let certs = sb.path("/etc/ssl/tls.example.test");
    std::fs::create_dir_all(&certs).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-days",
            "3",
            "-nodes",
            "-subj",
            "/CN=tls.example.test",
        ])
        .args(["-addext", "subjectAltName=DNS:tls.example.test"])
        .arg("-keyout")
        .arg(certs.join("key.pem"))
        .arg("-out")
        .arg(certs.join("cert.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sb = sb
        .site(
            "tls.yaml",
            "name: tls.example.test\nkind: static\ntls:\n  certificate: /etc/ssl/tls.example.test/cert.pem\n  key: /etc/ssl/tls.example.test/key.pem\n  hsts: true\n",
        )
        .started();
    let (code, _, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    let r = sb.get("tls.example.test", "/page?x=1");
    assert_eq!(r.status, 301);
    assert!(
        r.headers.contains(&format!(
            "Location: https://tls.example.test:{}/page?x=1",
            sb.port + 1
        )),
        "{}",
        r.headers
    );
    let https = std::process::Command::new("curl")
        .args(["-sk", "-D", "-", "-o", "/dev/null", "--resolve"])
        .arg(format!("tls.example.test:{}:127.0.0.1", sb.port + 1))
        .arg(format!("https://tls.example.test:{}/", sb.port + 1))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&https.stdout);
    assert!(head.starts_with("HTTP/2 200"), "{head}");
    assert!(
        head.contains("strict-transport-security: max-age=31536000; includeSubDomains"),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
}

/// Upgrades go forward only: a state file written by a newer lempctl (a higher `version`) is
/// refused with a clear message, and neither the state nor the host is changed.
#[test]
fn a_state_file_from_a_newer_lempctl_is_refused() {
    require!(WEB);
    let sb = Sandbox::new().site("php.yaml", PHP_SITE).started();
    let (code, _, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    let state = sb.path("/var/lib/lempctl/state.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(v["version"], 2, "the current format");
    v["version"] = serde_json::json!(99);
    let newer = serde_json::to_vec_pretty(&v).unwrap();
    std::fs::write(&state, &newer).unwrap();
    sb.write_site("php.yaml", &format!("{PHP_SITE}php:\n  max_children: 6\n"));
    let before = sb.tree();
    for args in [&["apply"][..], &["apply", "--dry-run"], &["status"]] {
        let (code, v, _) = sb.json(args);
        assert_ne!(code, 0, "{args:?}: {v}");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains("has format 99, written by a newer lempctl")
                && msg.contains("reads formats up to 2"),
            "{args:?}: {v}"
        );
    }
    assert_eq!(std::fs::read(&state).unwrap(), newer);
    assert_eq!(before, sb.tree());
}
