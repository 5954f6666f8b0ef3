//! Changing a site's `kind`: a change that deletes files or strands a database needs --force.

use crate::support::*;

const BLOG: &str = "name: kind.wp.test\nkind: wordpress\nwordpress:\n  title: Kinds\n  admin_email: owner@wp.test\n";
const APP: &str = "name: app.kind.test\nkind: php\n";

fn stderr_of(sb: &Sandbox, args: &[&str]) -> (i32, String) {
    let out = sb.lempctl().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_kind_change_that_deletes_or_strands_needs_force() {
    require!(&["nginx", "php-fpm8.2", "php8.2", "mariadbd"], wordpress());
    let sb = Sandbox::with_db()
        .site("blog.yaml", BLOG)
        .site("app.yaml", APP)
        .started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let wp_config = sb.path("/srv/www/kind.wp.test/htdocs/wp-config.php");
    assert!(wp_config.is_file());
    let database = sb.show("kind.wp.test")["database"]
        .as_str()
        .unwrap()
        .to_owned();

    // wordpress → php: wp-config.php would go and the database would be left unused.
    sb.write_site("blog.yaml", "name: kind.wp.test\nkind: php\n");
    let before = sb.tree();
    let (code, err) = stderr_of(&sb, &["apply"]);
    assert_eq!(code, 2, "{err}");
    for part in [
        "blog.yaml: site `kind.wp.test`: changing its kind from `wordpress` to `php` would delete ",
        "/srv/www/kind.wp.test/htdocs/wp-config.php",
        &format!("leave database `{database}` and its user"),
        "nothing was changed",
        "--force",
    ] {
        assert!(err.contains(part), "expected {part:?} in:\n{err}");
    }
    assert_eq!(before, sb.tree(), "a refused kind change wrote something");
    let (code, v, _) = sb.json(&["apply"]);
    assert_eq!(code, 2);
    assert_eq!(v["error"]["kind"], "invalid-input", "{v}");
    // A dry run refuses the same way; with --force it lists the deletion.
    let (code, err) = stderr_of(&sb, &["apply", "--dry-run"]);
    assert_eq!(code, 2, "{err}");
    let (code, v, err) = sb.json(&["apply", "--dry-run", "--force"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["action"] == "delete"
                && c["target"]
                    .as_str()
                    .unwrap()
                    .ends_with("htdocs/wp-config.php")),
        "{v}"
    );
    assert_eq!(before, sb.tree(), "the dry run wrote something");
    // Other sites are not held up by it.
    let (code, v, err) = sb.json(&["apply", "app.kind.test"]);
    assert_eq!(code, 0, "{err}\n{v}");

    // php → wordpress over a document root that has files: core would replace them.
    sb.write_site("app.yaml", "name: app.kind.test\nkind: wordpress\n");
    let (code, err) = stderr_of(&sb, &["apply", "app.kind.test"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("site `app.kind.test`: changing its kind from `php` to `wordpress` would copy WordPress core into /srv/www/app.kind.test/htdocs, which is not empty"),
        "{err}"
    );
    sb.write_site("app.yaml", APP);

    // With --force it goes ahead and says what it did; the database stays. (The site's new PHP
    // replaces WordPress's front page, which would redirect to the setup page without wp-config.php.)
    sb.write(
        "/srv/www/kind.wp.test/htdocs/index.php",
        "<?php echo 'the new app';\n",
    );
    let (code, v, err) = sb.json(&["apply", "--force"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(
        v["warnings"].to_string().contains(
            "site `kind.wp.test`: changing its kind from `wordpress` to `php` (--force) deletes"
        ),
        "{v}"
    );
    assert!(!wp_config.exists());
    assert!(sb.get("kind.wp.test", "/").body.contains("the new app"));
    assert_eq!(
        sb.sql_root(&format!("SHOW DATABASES LIKE '{database}'"))
            .trim(),
        database
    );
    // The state now holds the new kind: the next run needs no --force.
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["changed"], false, "{v}");

    // A change that deletes nothing of the site's and leaves no database needs no --force.
    sb.write("/srv/www/app.kind.test/htdocs/index.html", "static now\n");
    sb.write_site("app.yaml", "name: app.kind.test\nkind: static\n");
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(
        !sb.path("/etc/php/8.2/fpm/pool.d/app.kind.test.conf")
            .exists()
    );
}
