//! `site update` and `site create` with settings: the site file is edited (comments kept), the
//! change is validated as `apply` reads it and converged; the result is checked over HTTP and in
//! the rendered pool.

use crate::support::*;

const SITE: &str = "# our shop\nname: php.example.test\nkind: php\n# keep this note\naliases: [www.php.example.test]\n";

#[test]
fn update_edits_the_site_file_and_converges() {
    require!(WEB);
    let sb = Sandbox::new().site("php.yaml", SITE).started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let file = sb.path("/etc/lempctl/sites.d/php.yaml");
    let pool = sb.path("/etc/php/8.2/fpm/pool.d/php.example.test.conf");

    // a dry run changes nothing
    let before = sb.tree();
    let (code, v, err) = sb.json(&[
        "--dry-run",
        "site",
        "update",
        "php.example.test",
        "--memory-limit",
        "384M",
    ]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["changed"], true, "{v}");
    assert_eq!(before, sb.tree());

    let (code, v, err) = sb.json(&[
        "site",
        "update",
        "php.example.test",
        "--memory-limit",
        "384M",
        "--max-children",
        "7",
        "--upload-max-size",
        "32M",
        "--alias",
        "shop.example.test",
    ]);
    assert_eq!(code, 0, "{err}\n{v}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("# our shop\n") && text.contains("# keep this note\n"),
        "{text}"
    );
    assert!(text.contains("aliases: [\"shop.example.test\"]"), "{text}");
    assert!(
        text.contains(
            "php:\n  memory_limit: \"384M\"\n  max_children: 7\n  upload_max_size: \"32M\""
        ),
        "{text}"
    );
    let p = std::fs::read_to_string(&pool).unwrap();
    assert!(
        p.contains("php_admin_value[memory_limit] = 384M") && p.contains("pm.max_children = 7"),
        "{p}"
    );
    assert_eq!(sb.get("shop.example.test", "/").status, 200);
    assert_ne!(
        sb.get("www.php.example.test", "/").status,
        200,
        "the old alias is gone"
    );

    // a bad value: exit 2, the file as it was
    let (code, _, err) = sb.json(&[
        "site",
        "update",
        "php.example.test",
        "--memory-limit",
        "lots",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`--memory-limit`"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    // nothing to change
    let (code, _, err) = sb.json(&["site", "update", "php.example.test"]);
    assert_eq!(code, 2, "{err}");
    // a second identical update changes nothing
    let (code, v, err) = sb.json(&["site", "update", "php.example.test", "--max-children", "7"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["changed"], false, "{v}");
    // aliases removed
    let (code, v, err) = sb.json(&["site", "update", "php.example.test", "--no-aliases"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(!std::fs::read_to_string(&file).unwrap().contains("aliases"));
    assert_ne!(sb.get("shop.example.test", "/").status, 200);
}

#[test]
fn create_takes_the_same_settings() {
    require!(WEB);
    let sb = Sandbox::new().started();
    let (code, v, err) = sb.json(&[
        "site",
        "create",
        "new.example.test",
        "--kind",
        "php",
        "--memory-limit",
        "200M",
        "--max-children",
        "3",
    ]);
    assert_eq!(code, 0, "{err}\n{v}");
    let p =
        std::fs::read_to_string(sb.path("/etc/php/8.2/fpm/pool.d/new.example.test.conf")).unwrap();
    assert!(
        p.contains("php_admin_value[memory_limit] = 200M") && p.contains("pm.max_children = 3"),
        "{p}"
    );
    assert_eq!(sb.get("new.example.test", "/").status, 200);
    let v = sb.show("new.example.test");
    assert_eq!(v["memory_limit"], "200M", "{v}");
}
