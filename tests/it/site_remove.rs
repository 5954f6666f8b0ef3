use crate::support::*;

#[test]
fn create_then_remove_keeps_data_unless_purged() {
    require!(WEB);
    let sb = Sandbox::new()
        .site("static.example.test.yaml", STATIC_SITE)
        .started();
    sb.lempctl().arg("apply").assert().success();
    let (code, _, err) = sb.json(&[
        "site",
        "create",
        "shop.example.test",
        "--kind",
        "php",
        "--alias",
        "www.shop.example.test",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        sb.path("/etc/lempctl/sites.d/shop.example.test.yaml")
            .is_file()
    );
    assert_eq!(sb.get("shop.example.test", "/").status, 200);
    sb.write("/srv/www/shop.example.test/htdocs/data.txt", "precious");

    // Not a terminal and no --yes: refused, nothing changed.
    let out = sb
        .lempctl()
        .args(["site", "remove", "shop.example.test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert_eq!(sb.get("shop.example.test", "/").status, 200);

    let (code, v, err) = sb.json(&["site", "remove", "shop.example.test", "--yes"]);
    assert_eq!(code, 0, "{err}");
    let changes = v["changes"].as_array().unwrap();
    let reloads: Vec<_> = changes
        .iter()
        .filter(|c| c["action"] == "reload")
        .map(|c| c["target"].as_str().unwrap())
        .collect();
    assert_eq!(reloads, ["nginx", "php8.2-fpm"], "one reload per service");
    // Only the site's own files, and the host-wide opcache sizing that no PHP site needs any more.
    assert!(
        changes
            .iter()
            .filter(|c| c["action"] == "delete")
            .all(|c| c["site"] == "shop.example.test"
                || c["target"]
                    .as_str()
                    .unwrap()
                    .ends_with("90-lempctl-opcache.ini")),
        "{v}"
    );
    assert!(
        !sb.path("/etc/nginx/sites-available/shop.example.test.conf")
            .exists()
    );
    assert!(
        !sb.path("/etc/php/8.2/fpm/pool.d/shop.example.test.conf")
            .exists()
    );
    assert!(
        !sb.path("/etc/lempctl/sites.d/shop.example.test.yaml")
            .exists()
    );
    assert_eq!(
        std::fs::read_to_string(sb.path("/srv/www/shop.example.test/htdocs/data.txt")).unwrap(),
        "precious"
    );
    assert_ne!(sb.get("shop.example.test", "/").status, 200);
    assert_eq!(
        sb.get("static.example.test", "/").status,
        200,
        "other sites untouched"
    );
    assert!(
        sb.path("/etc/nginx/sites-available/static.example.test.conf")
            .exists()
    );

    // Purge archives the tree first, then deletes it.
    sb.lempctl()
        .args(["site", "create", "shop.example.test", "--kind", "php"])
        .assert()
        .success();
    let (code, v, err) = sb.json(&["site", "remove", "shop.example.test", "--purge", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(!sb.path("/srv/www/shop.example.test").exists());
    let archives: Vec<_> = std::fs::read_dir(sb.path("/var/lib/lempctl/archive"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(archives.len(), 1, "{v}");
    let list = std::process::Command::new("tar")
        .arg("--zstd")
        .arg("-tf")
        .arg(&archives[0])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("shop.example.test/htdocs/data.txt"));
}

#[test]
fn disable_stops_serving_and_enable_serves_again() {
    require!(WEB);
    let sb = Sandbox::new()
        .site("php.example.test.yaml", PHP_SITE)
        .started();
    sb.lempctl().arg("apply").assert().success();
    sb.lempctl()
        .args(["site", "disable", "php.example.test"])
        .assert()
        .success();
    assert_ne!(sb.get("php.example.test", "/").status, 200);
    assert!(
        !sb.path("/etc/nginx/sites-enabled/php.example.test.conf")
            .exists()
    );
    assert!(
        sb.path("/etc/nginx/sites-available/php.example.test.conf")
            .exists()
    );
    sb.lempctl()
        .args(["site", "enable", "php.example.test"])
        .assert()
        .success();
    assert_eq!(sb.get("php.example.test", "/").status, 200);
}

#[test]
fn prune_removes_sites_deleted_from_sites_d() {
    require!(WEB);
    let sb = Sandbox::new()
        .site("php.example.test.yaml", PHP_SITE)
        .site("static.example.test.yaml", STATIC_SITE)
        .started();
    sb.lempctl().arg("apply").assert().success();
    std::fs::remove_file(sb.path("/etc/lempctl/sites.d/static.example.test.yaml")).unwrap();
    let (_, v, _) = sb.json(&["apply"]);
    assert!(v["warnings"].to_string().contains("--prune"), "{v}");
    assert!(
        sb.path("/etc/nginx/sites-available/static.example.test.conf")
            .exists()
    );
    let (code, _, _) = sb.json(&["apply", "--prune"]);
    assert_eq!(code, 0);
    assert!(
        !sb.path("/etc/nginx/sites-available/static.example.test.conf")
            .exists()
    );
    assert!(
        sb.path("/srv/www/static.example.test/htdocs/index.html")
            .exists(),
        "data kept"
    );
}
