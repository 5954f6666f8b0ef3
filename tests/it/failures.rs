use std::os::unix::process::CommandExt;

use crate::support::*;

#[test]
fn invalid_override_template_fails_with_nginx_message_and_rolls_back() {
    require!(WEB);
    let sb = Sandbox::new()
        .site("php.example.test.yaml", PHP_SITE)
        .started();
    sb.lempctl().arg("apply").assert().success();
    let vhost = sb.path("/etc/nginx/sites-available/php.example.test.conf");
    let before = std::fs::read_to_string(&vhost).unwrap();
    // An override that nginx cannot parse; the new alias forces a re-render.
    sb.write(
        "/etc/lempctl/templates/nginx/kind/php.conf.j2",
        "    root {{ site.paths.document_root }};\n    lisen 99;\n",
    );
    sb.write_site("php.example.test.yaml", "name: php.example.test\nkind: php\naliases: [www.php.example.test, new.php.example.test]\n");
    let out = sb.lempctl().arg("apply").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("unknown directive \"lisen\""), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&vhost).unwrap(),
        before,
        "previous vhost restored"
    );
    assert_eq!(sb.get("php.example.test", "/").status, 200, "still served");
    assert_eq!(
        sb.get("new.php.example.test", "/").status,
        Status::Closed,
        "the failed change is not served (nginx closes the connection: return 444)"
    );
}

#[test]
fn change_that_breaks_a_working_site_is_rolled_back_by_the_health_check() {
    require!(WEB);
    let sb = Sandbox::new()
        .site("php.example.test.yaml", PHP_SITE)
        .site("static.example.test.yaml", STATIC_SITE)
        .started();
    sb.lempctl().arg("apply").assert().success();
    assert_eq!(sb.get("php.example.test", "/").status, 200);
    // Valid for `nginx -t`, but every request now fails with 500.
    sb.write(
        "/etc/lempctl/templates/nginx/kind/php.conf.j2",
        "    location / {\n        return 500;\n    }\n",
    );
    sb.write_site(
        "php.example.test.yaml",
        "name: php.example.test\nkind: php\n",
    );
    let out = sb.lempctl().arg("apply").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("health check failed") && err.contains("answered 500, expected 200"),
        "{err}"
    );
    // and says that the site file still holds the change the host no longer has
    assert!(
        err.contains("the site files still hold the change"),
        "{err}"
    );
    assert_eq!(
        sb.get("php.example.test", "/").status,
        200,
        "serves again after the rollback"
    );
    assert_eq!(
        sb.get("www.php.example.test", "/").status,
        200,
        "old config (with the alias) is back"
    );
    // Without the bad override, the same change goes through.
    std::fs::remove_file(sb.path("/etc/lempctl/templates/nginx/kind/php.conf.j2")).unwrap();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["changed"], true);
}

#[test]
fn a_run_killed_half_way_is_converged_by_the_next_run() {
    require!(WEB);
    let sb = Sandbox::new().started();
    for i in 0..150 {
        sb.write_site(
            &format!("s{i}.yaml"),
            &format!("name: s{i}.crash.test\nkind: php\n"),
        );
    }
    let mut child = std::process::Command::new(bin());
    child
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .arg("--root")
        .arg(sb.root())
        .arg("apply")
        .stderr(std::process::Stdio::null())
        .process_group(0);
    let mut child = child.spawn().unwrap();
    let avail = sb.path("/etc/nginx/sites-available");
    let start = std::time::Instant::now();
    while std::fs::read_dir(&avail).map(|d| d.count()).unwrap_or(0) < 3
        && start.elapsed().as_secs() < 60
    {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let written = std::fs::read_dir(&avail).unwrap().count();
    assert!(
        written < 150,
        "the run finished before it was killed ({written} vhosts)"
    );
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    // Files of the killed run are recognised as lempctl's: no drift, no foreign files.
    let warnings = v["warnings"].to_string();
    assert!(
        !warnings.contains("drift") && !warnings.contains("not written by lempctl"),
        "{warnings}"
    );
    for i in [0, 17, 149] {
        assert_eq!(sb.get(&format!("s{i}.crash.test"), "/").status, 200);
    }
    let (_, again, _) = sb.json(&["apply"]);
    assert_eq!(again["changed"], false);
}

#[test]
fn hand_edits_are_reported_as_drift_and_kept_unless_forced() {
    require!(WEB);
    let sb = Sandbox::new()
        .site("php.example.test.yaml", PHP_SITE)
        .started();
    sb.lempctl().arg("apply").assert().success();
    let pool = sb.path("/etc/php/8.2/fpm/pool.d/php.example.test.conf");
    let edited = std::fs::read_to_string(&pool)
        .unwrap()
        .replace("pm.max_children = 4", "pm.max_children = 9");
    std::fs::write(&pool, &edited).unwrap();
    // A hand edit alone (nothing else wanted for the file) is kept with a warning: exit 0.
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(v["warnings"].to_string().contains("drift"), "{v}");
    assert_eq!(v["error"], serde_json::Value::Null, "{v}");
    // A hand edit that blocks a change the site file now wants is a failure (exit 1), also
    // under -q (what timers run); the rest of the run (another site) is still applied.
    sb.write_site(
        "php.example.test.yaml",
        &format!("{PHP_SITE}php:\n  max_requests: 100\n"),
    );
    sb.write_site("static.yaml", STATIC_SITE);
    let (code, v, _) = sb.json(&["apply"]);
    assert_eq!(code, 1, "{v}");
    assert!(v["warnings"].to_string().contains("drift"), "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("php.example.test.conf") && msg.contains("--force"),
        "{v}"
    );
    assert_eq!(v["error"]["kind"], "failure", "{v}");
    assert_eq!(
        std::fs::read_to_string(&pool).unwrap(),
        edited,
        "a drifted file is not overwritten"
    );
    assert_eq!(sb.get("static.example.test", "/").status, 200);
    let quiet = sb.lempctl().args(["-q", "apply"]).output().unwrap();
    assert_eq!(quiet.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&quiet.stderr).contains("blocked by hand edits"),
        "{quiet:?}"
    );
    let status = sb.lempctl().arg("status").output().unwrap();
    assert!(String::from_utf8_lossy(&status.stdout).contains("drift"));
    let (code, _, _) = sb.json(&["apply", "--force"]);
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&pool).unwrap();
    assert!(
        text.contains("pm.max_children = 4") && text.contains("pm.max_requests = 100"),
        "{text}"
    );
}

#[test]
fn a_foreign_file_in_the_way_is_refused_without_changes() {
    require!(WEB);
    let sb = Sandbox::new()
        .site("php.example.test.yaml", PHP_SITE)
        .started();
    sb.write(
        "/etc/nginx/sites-available/php.example.test.conf",
        "# someone else's vhost\n",
    );
    let before = sb.tree();
    let out = sb.lempctl().arg("apply").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not written by lempctl"));
    assert_eq!(before, sb.tree());
}
