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

/// `site put` without a name: several site files in one input, validated together, written and
/// converged in one run; any invalid one and nothing is written.
#[test]
fn put_installs_many_site_files_in_one_run() {
    require!(WEB);
    let sb = Sandbox::new().site("php.yaml", SITE).started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let put = |text: &str, extra: &[&str]| {
        let out = sb
            .lempctl()
            .args(["site", "put", "--file", "-", "--json"])
            .args(extra)
            .write_stdin(text.to_owned())
            .output()
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (
            out.status.code().unwrap_or(-1),
            v,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let two = "name: a.many.test\nkind: static\n---\n# the second\nname: b.many.test\nkind: php\nphp:\n  memory_limit: 96M\n";
    let before = sb.tree();
    let (code, v, err) = put(two, &["--dry-run"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(before, sb.tree(), "the dry run wrote something");

    let (code, v, err) = put(two, &[]);
    assert_eq!(code, 0, "{err}\n{v}");
    let changes = v["changes"].as_array().unwrap();
    let first_two: Vec<_> = changes[..2].iter().map(|c| c["target"].clone()).collect();
    assert_eq!(
        first_two,
        [
            "/etc/lempctl/sites.d/a.many.test.yaml",
            "/etc/lempctl/sites.d/b.many.test.yaml"
        ],
        "{v}"
    );
    assert_eq!(
        std::fs::read_to_string(sb.path("/etc/lempctl/sites.d/b.many.test.yaml")).unwrap(),
        "# the second\nname: b.many.test\nkind: php\nphp:\n  memory_limit: 96M\n",
        "each document is written as given"
    );
    let reloads = changes.iter().filter(|c| c["action"] == "reload").count();
    assert!(reloads <= 2, "one reload per service for both sites: {v}");
    assert!(sb.get("a.many.test", "/").is_served());
    assert!(sb.get("b.many.test", "/").is_served());
    assert!(
        std::fs::read_to_string(sb.path("/etc/php/8.2/fpm/pool.d/b.many.test.conf"))
            .unwrap()
            .contains("memory_limit] = 96M")
    );

    // the same input again changes nothing
    let (code, v, err) = put(two, &[]);
    assert_eq!((code, &v["changed"]), (0, &false.into()), "{err}\n{v}");

    // one bad document: nothing written, the problem named
    let before = sb.tree();
    let bad = "name: a.many.test\nkind: static\naliases: [x.many.test]\n---\nname: b.many.test\nkind: php\nphp:\n  memory_limit: lots\n";
    let (code, _, err) = put(bad, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("b.many.test.yaml:4:17: `php.memory_limit`"),
        "{err}"
    );
    assert_eq!(before, sb.tree(), "a refused put wrote something");
    let (code, _, err) = put(
        "name: a.many.test\nkind: static\n---\nname: a.many.test\nkind: php\n",
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("site `a.many.test` is in the input twice"),
        "{err}"
    );
    let (code, _, err) = put("---\n# nothing\n", &[]);
    assert_eq!(code, 2);
    assert!(err.contains("no site file in the input"), "{err}");
    assert_eq!(before, sb.tree());
}
