//! `status` from the sysadmin's side: never "ok" (exit 0) while the host differs from the site
//! files — not applied, edited but not applied, a rolled-back change, drift, a failed backup —
//! with the PHP version, cache, TLS and last backup of each site, and nothing written.

use crate::support::*;

fn site<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

fn human(sb: &Sandbox) -> (i32, String) {
    let out = sb.lempctl().arg("status").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn status_is_ok_only_while_the_host_matches_the_site_files() {
    require!(&["nginx", "php-fpm8.2", "useradd", "restic"]);
    let sb = Sandbox::new()
        .site("php.example.test.yaml", PHP_SITE)
        .site(
            "static.example.test.yaml",
            "name: static.example.test\nkind: static\nbackup:\n  keep_last: 2\n",
        )
        .started();
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(
        &g,
        format!("{text}backup:\n  repository: /var/backups/lempctl\n"),
    )
    .unwrap();

    // Nothing applied yet.
    let (code, v, err) = sb.json(&["status"]);
    assert_eq!(code, 1, "{err}\n{v}");
    assert_eq!(v["ok"], false);
    assert_eq!(site(&v, "php.example.test")["state"], "not applied", "{v}");

    // Applied: ok, with the per-site facts.
    let (code, _, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    let before = sb.tree();
    let (code, v, err) = sb.json(&["status"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["ok"], true, "{v}");
    let php = site(&v, "php.example.test");
    assert_eq!(php["state"], "ok", "{v}");
    assert_eq!(php["php"], "8.2");
    assert_eq!(php["cache"], "none");
    assert_eq!(php["tls"], false);
    assert_eq!(php["pending"], serde_json::json!([]));
    assert_eq!(
        site(&v, "static.example.test")["php"],
        serde_json::Value::Null
    );
    assert_eq!(site(&v, "static.example.test")["backup_scheduled"], true);
    assert_eq!(
        site(&v, "static.example.test")["last_backup"],
        serde_json::Value::Null
    );
    let (code, text) = human(&sb);
    assert_eq!(code, 0);
    assert!(text.contains("status: ok"), "{text}");
    assert!(text.contains("never"), "{text}");
    // `status` wrote nothing.
    assert_eq!(before, sb.tree());

    // A site file edited but not applied: pending, exit 1, what apply would change.
    let edited = "name: php.example.test\nkind: php\naliases: [www.php.example.test]\nphp:\n  max_children: 7\n";
    sb.write_site("php.example.test.yaml", edited);
    let (code, v, _) = sb.json(&["status"]);
    assert_eq!(code, 1, "{v}");
    let php = site(&v, "php.example.test");
    assert_eq!(php["state"], "pending", "{v}");
    assert!(
        php["pending"]
            .to_string()
            .contains("update file /etc/php/8.2/fpm/pool.d/php.example.test.conf"),
        "{v}"
    );
    assert_eq!(site(&v, "static.example.test")["state"], "ok", "{v}");
    let (code, text) = human(&sb);
    assert_eq!(code, 1);
    assert!(
        text.contains("pending: update file /etc/php/8.2/fpm/pool.d/php.example.test.conf")
            && text.contains("status: needs attention"),
        "{text}"
    );
    let (code, _, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sb.json(&["status"]).0, 0);

    // A change the health check rolled back, its YAML still wanted: pending.
    sb.write(
        "/etc/lempctl/templates/nginx/kind/php.conf.j2",
        "    location / {\n        return 500;\n    }\n",
    );
    sb.write_site(
        "php.example.test.yaml",
        "name: php.example.test\nkind: php\n",
    );
    let (code, _, err) = sb.json(&["apply"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(sb.get("php.example.test", "/").status, 200, "rolled back");
    let (code, v, _) = sb.json(&["status"]);
    assert_eq!(code, 1, "{v}");
    let php = site(&v, "php.example.test");
    assert_eq!(php["state"], "pending", "{v}");
    assert!(
        php["pending"]
            .to_string()
            .contains("update file /etc/nginx/sites-available/php.example.test.conf"),
        "{v}"
    );
    std::fs::remove_file(sb.path("/etc/lempctl/templates/nginx/kind/php.conf.j2")).unwrap();
    sb.write_site("php.example.test.yaml", edited);
    let (c, v, _) = sb.json(&["status"]);
    assert_eq!(c, 0, "{v}");

    // A hand edit: drift.
    let vhost = sb.path("/etc/nginx/sites-available/static.example.test.conf");
    let mut text = std::fs::read_to_string(&vhost).unwrap();
    text.push_str("# hand edit\n");
    std::fs::write(&vhost, text).unwrap();
    let (code, v, _) = sb.json(&["status"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(site(&v, "static.example.test")["state"], "drift", "{v}");
    let (code, _, err) = sb.json(&["apply", "--force"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sb.json(&["status"]).0, 0);

    // The last backup: a successful run, then a failed one.
    let (code, _, err) = sb.json(&["backup", "init"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = sb.json(&["backup", "run", "static.example.test"]);
    assert_eq!(code, 0, "{err}");
    let (code, v, _) = sb.json(&["status"]);
    assert_eq!(code, 0, "{v}");
    let b = &site(&v, "static.example.test")["last_backup"];
    assert_eq!(b["success"], true, "{v}");
    assert!(b["last_success"].as_i64().is_some(), "{v}");
    let repo = sb.path("/var/backups/lempctl");
    std::fs::rename(&repo, sb.path("/var/backups/moved")).unwrap();
    let (code, _, _) = sb.json(&["backup", "run", "static.example.test"]);
    assert_ne!(code, 0);
    let (code, v, _) = sb.json(&["status"]);
    assert_eq!(code, 1, "{v}");
    let s = site(&v, "static.example.test");
    assert_eq!(s["state"], "backup failed", "{v}");
    assert_eq!(s["last_backup"]["success"], false, "{v}");
    let (_, text) = human(&sb);
    assert!(text.contains("FAILED"), "{text}");
}
