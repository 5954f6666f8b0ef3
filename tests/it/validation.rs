//! Bad input: each exits 2 with a precise message and changes nothing.

use crate::support::*;

fn refused(sb: &Sandbox, args: &[&str], expect: &str) {
    let before = sb.tree();
    let out = sb.lempctl().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(expect),
        "{args:?}: expected {expect:?} in:\n{err}"
    );
    assert_eq!(before, sb.tree(), "{args:?} changed the tree");
}

#[test]
fn bad_site_names_on_the_command_line_are_refused() {
    let sb = Sandbox::new();
    let long = format!("{}.test", "a".repeat(300));
    for (name, why) in [
        ("../etc", "`/`"),
        ("exa mple.com", "a space"),
        ("EXAMPLE.com", "upper-case"),
        (long.as_str(), "at most 253"),
        ("-bad.example.test", "starts or ends with `-`"),
        ("a;b.example.test", "`;`"),
        ("a{b.example.test", "`{`"),
    ] {
        refused(&sb, &["site", "create", "--kind", "php", "--", name], why);
    }
    // `--kind` is checked by the command-line parser, which names the kinds it takes
    refused(
        &sb,
        &["site", "create", "ok.example.test", "--kind", "perl"],
        "invalid value 'perl' for '--kind <KIND>'",
    );
    refused(
        &sb,
        &["site", "create", "ok.example.test", "--kind", "perl"],
        "[possible values: php, static, wordpress, redirect, proxy]",
    );
    refused(
        &sb,
        &["site", "create", "ok.example.test", "--kind", "redirect"],
        "--to URL",
    );
    refused(
        &sb,
        &[
            "site",
            "create",
            "ok.example.test",
            "--kind",
            "redirect",
            "--to",
            "https://x.test/a;b",
        ],
        "not an http(s) URL",
    );
    refused(
        &sb,
        &[
            "site",
            "create",
            "ok.example.test",
            "--kind",
            "php",
            "--alias",
            "Bad.test",
        ],
        "upper-case",
    );
    refused(
        &sb,
        &[
            "site",
            "create",
            "ok.example.test",
            "--kind",
            "static",
            "--php-version",
            "8.2",
        ],
        "does not run PHP",
    );
    refused(
        &sb,
        &[
            "site",
            "create",
            "ok.example.test",
            "--kind",
            "php",
            "--php-version",
            "8",
        ],
        "not a PHP version",
    );
}

#[test]
fn bad_site_files_are_refused_with_file_line_and_field() {
    let sb = Sandbox::new();
    let cases: &[(&str, &str, &str)] = &[
        (
            "name: ../etc\nkind: php\n",
            "bad.yaml:1:7: `name`: invalid site name",
            "`/`",
        ),
        (
            "name: EXAMPLE.com\nkind: php\n",
            "bad.yaml:1:7: `name`",
            "upper-case",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  max_childs: 3\n",
            "bad.yaml:4:3: `php.max_childs`",
            "unknown field `max_childs`",
        ),
        (
            "name: ok.example.test\nkind: php\ncolour: blue\n",
            "bad.yaml:3:1",
            "unknown field `colour`",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  max_children: many\n",
            "bad.yaml:4:17: `php.max_children`",
            "whole number",
        ),
        (
            "name: ok.example.test\nkind: php\nenabled: perhaps\n",
            "bad.yaml:3:",
            "enabled",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  pm: sometimes\n",
            "bad.yaml:4:7: `php.pm`",
            "allowed: `ondemand`, `dynamic`, `static`",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  ini:\n    open_basedir: /\n",
            "`php.ini.open_basedir`",
            "isolation",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  ini:\n    max_input_vars: \"1; rm\"\n",
            "`php.ini.max_input_vars`",
            "not allowed",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  ini:\n    extension: /tmp/evil.so\n",
            "`php.ini.extension`",
            "not on the list of settings a site may change",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  ini:\n    sendmail_path: /tmp/x\n",
            "`php.ini.sendmail_path`",
            "allowed: `allow_url_fopen`",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  ini:\n    auto_prepend_file: /etc/passwd\n",
            "`php.ini.auto_prepend_file`",
            "`max_input_vars`",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  ini:\n    disable_functions: \"\"\n",
            "`php.ini.disable_functions`",
            "isolation",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  ini:\n    memory_limit: 2G\n",
            "`php.ini.memory_limit`",
            "`php.memory_limit`",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  ini:\n    post_max_size: 2G\n",
            "`php.ini.post_max_size`",
            "set by `php.upload_max_size`",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  upload_max_size: 64MB\n",
            "bad.yaml:4:20: `php.upload_max_size`: `64MB` is not a size",
            "allowed: a size from `1M` to `4G`",
        ),
        (
            "name: ok.example.test\nkind: wordpress\nphp:\n  upload_max_size: 8G\n",
            "bad.yaml:4:20: `php.upload_max_size`: `8G` is out of range",
            "allowed: a size from `1M` to `4G`",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  upload_max_size: 512K\n",
            "`php.upload_max_size`: `512K` is out of range",
            "`1M` to `4G`",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  upload_max_size: 32M\n  upload_max_filesize: 16M\n",
            "bad.yaml:5:24: `php.upload_max_filesize`: replaced by `php.upload_max_size`",
            "allowed: only `php.upload_max_size` (remove `php.upload_max_filesize`)",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  upload_max_size: 32M\n  post_max_size: 8M\n",
            "bad.yaml:5:18: `php.post_max_size`: `8M` is smaller than the upload size `32M`",
            "derives it from `php.upload_max_size` (here `36M`)",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  upload_max_filesize: 1T\n",
            "`php.upload_max_filesize`: `1T` is not a size",
            "`1M` to `4G`",
        ),
        (
            "name: ok.example.test\nkind: php\nphp:\n  ini:\n    allow_url_fopen: \"1\"\n",
            "`php.ini.allow_url_fopen`",
            "only be turned off",
        ),
        (
            "name: ok.example.test\nkind: static\ns3:\n  bucket: ok-bucket\n  source: /etc\n",
            "bad.yaml:5:11: `s3.source`",
            "allowed: a relative path inside the site directory (like `static`), or an absolute path under `/srv/www/ok.example.test`",
        ),
        (
            "name: ok.example.test\nkind: static\ns3:\n  bucket: ok-bucket\n  source: /srv/www/ok.example.test/../other.example.test\n",
            "`s3.source`",
            "not inside the site directory",
        ),
        (
            "name: ok.example.test\nkind: static\ns3:\n  bucket: ok-bucket\n  source: /srv/www/ok.example.test2/static\n",
            "`s3.source`",
            "not inside the site directory",
        ),
        (
            "name: ok.example.test\nkind: wordpress\nwordpress:\n  admin_password_file: /root/.ssh/id_ed25519\n",
            "bad.yaml:4:24: `wordpress.admin_password_file`",
            "allowed: an absolute path under `/etc/lempctl`, `/var/lib/lempctl`, without `..`",
        ),
        (
            "name: ok.example.test\nkind: wordpress\nwordpress:\n  admin_password_file: /etc/lempctl/../shadow\n",
            "`wordpress.admin_password_file`",
            "not under the lempctl configuration or state directory",
        ),
        (
            "name: ok.example.test\nkind: wordpress\nwordpress:\n  admin_password_file: /var/lib/lempctl/credentials/other.example.test.json\n",
            "`wordpress.admin_password_file`",
            "one of lempctl's own secrets",
        ),
        (
            "name: ok.example.test\nkind: wordpress\nwordpress:\n  source: /etc\n",
            "bad.yaml:4:11: `wordpress.source`",
            "allowed: a WordPress directory or a `.tar.gz` release under `/usr/share/wordpress`, `/var/lib/lempctl/wordpress`",
        ),
        (
            "name: ok.example.test\nkind: wordpress\nwordpress:\n  source: /usr/share/wordpress/../../../root\n",
            "`wordpress.source`",
            "not under an allowed source root",
        ),
        (
            "name: ok.example.test\nkind: php\ndocument_root: ../../etc\n",
            "`document_root`",
            "relative directory",
        ),
        (
            "name: ok.example.test\nkind: php\ntls:\n  certificate: /nope.pem\n  key: /nope.key\n",
            "`tls.certificate`",
            "does not exist",
        ),
        ("name: [unclosed\n", "bad.yaml:", ""),
    ];
    for (yaml, place, why) in cases {
        sb.write_site("bad.yaml", yaml);
        refused(&sb, &["apply"], place);
        refused(&sb, &["apply", "--dry-run"], why);
    }
}

#[test]
fn site_file_paths_inside_the_allowed_roots_and_safe_ini_keys_are_accepted() {
    let sb = Sandbox::new();
    sb.write_site(
        "ok.yaml",
        "name: ok.example.test\nkind: php\nphp:\n  ini:\n    max_input_vars: \"3000\"\n    date.timezone: Europe/Berlin\n    allow_url_fopen: \"off\"\n\
         s3:\n  bucket: ok-bucket\n  source: /srv/www/ok.example.test/public/export\n",
    );
    sb.write_site(
        "blog.yaml",
        "name: blog.example.test\nkind: wordpress\nwordpress:\n  source: /usr/share/wordpress\n  admin_password_file: /etc/lempctl/blog-admin-password\n",
    );
    let (code, v, err) = sb.json(&["site", "list"]);
    assert_eq!(code, 0, "{err}\n{v}");
    // The host configuration widens the source roots; the default source stays allowed.
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let base = std::fs::read_to_string(&g).unwrap();
    std::fs::write(
        &g,
        format!("{base}wordpress:\n  allowed_sources: [/usr/share/wordpress/wp-admin]\n"),
    )
    .unwrap();
    let (code, v, err) = sb.json(&["site", "list"]);
    assert_eq!(code, 0, "{err}\n{v}");
    // A root of `/` is refused in the host configuration.
    std::fs::write(&g, format!("{base}wordpress:\n  allowed_sources: [/]\n")).unwrap();
    refused(&sb, &["site", "list"], "`wordpress.allowed_sources[0]`");
}

#[test]
fn duplicate_names_and_aliases_across_files_are_refused() {
    let sb = Sandbox::new();
    sb.write_site("a.yaml", "name: one.example.test\nkind: static\n");
    sb.write_site("b.yaml", "name: one.example.test\nkind: static\n");
    refused(
        &sb,
        &["apply"],
        "`one.example.test` is a duplicate site name",
    );
    sb.write_site(
        "b.yaml",
        "name: two.example.test\nkind: static\naliases: [www.example.test]\n",
    );
    sb.write_site(
        "c.yaml",
        "name: three.example.test\nkind: static\naliases: [www.example.test]\n",
    );
    refused(&sb, &["apply"], "`www.example.test` is already claimed");
    refused(
        &sb,
        &[
            "site",
            "create",
            "four.example.test",
            "--kind",
            "static",
            "--alias",
            "one.example.test",
        ],
        "already claimed",
    );
}

#[test]
fn bad_global_configuration_is_refused() {
    let sb = Sandbox::new();
    let path = sb.path("/etc/lempctl/lempctl.yaml");
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        good.replace("service_manager: direct", "service_manager: launchd"),
    )
    .unwrap();
    refused(
        &sb,
        &["apply"],
        "`service_manager`: unknown value `launchd`",
    );
    std::fs::write(&path, format!("{good}schedule:\n  apply: \"0 25 * * *\"\n")).unwrap();
    refused(&sb, &["apply"], "`schedule.apply`");
    std::fs::write(&path, format!("{good}wordpress:\n  php_timeout: 0\n")).unwrap();
    refused(&sb, &["apply"], "`wordpress.php_timeout`");
    // TLS for site users needs a TLS connection to a server over TCP
    for database in [
        "database:\n  require_tls: true\n",
        "database:\n  host: 127.0.0.1\n  credentials_file: /etc/lempctl/db.cnf\n  require_tls: true\n",
    ] {
        std::fs::write(&path, format!("{good}{database}")).unwrap();
        let out = sb.lempctl().arg("apply").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("lempctl.yaml:")
                && err.contains("`database.require_tls`")
                && err.contains("together with `host` and `tls`"),
            "{err}"
        );
    }
    for (alerts, field) in [
        (
            "alerts:\n  smtp_host: 127.0.0.1\n  from: not-an-address\n  to: [ops@example.test]\n",
            "`alerts.from`",
        ),
        (
            "alerts:\n  smtp_host: 127.0.0.1\n  from: a@example.test\n  to: []\n",
            "`alerts.to`",
        ),
        (
            "alerts:\n  smtp_host: 127.0.0.1\n  from: a@example.test\n  to: [ops@example.test, 'x y@z']\n",
            "`alerts.to[1]`",
        ),
        (
            "alerts:\n  smtp_host: \"bad host\"\n  from: a@example.test\n  to: [ops@example.test]\n",
            "`alerts.smtp_host`",
        ),
        (
            "alerts:\n  smtp_host: 127.0.0.1\n  from: a@example.test\n  to: [ops@example.test]\n  credentials_file: relative\n",
            "`alerts.credentials_file`",
        ),
    ] {
        std::fs::write(&path, format!("{good}{alerts}")).unwrap();
        refused(&sb, &["apply"], field);
    }
}

/// Errors say what the file may hold, in the user's words: no parser option names, no Rust
/// types; a PHP version that is not installed names the ones that are.
#[test]
fn errors_speak_the_users_language() {
    let sb = Sandbox::new();
    sb.write_site("a.yaml", "name: a.example.test\nkind: php\nkind: static\n");
    refused(
        &sb,
        &["apply"],
        "a.yaml:3:1: `kind`: `kind` is set twice in the same mapping; keep one",
    );
    let out = sb.lempctl().arg("apply").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("DuplicateKeyPolicy"), "{err}");

    sb.write_site(
        "a.yaml",
        "name: a.example.test\nkind: php\nphp:\n  max_children: -3\n",
    );
    refused(
        &sb,
        &["apply"],
        "`php.max_children`: expected a whole number from 0 to 4294967295",
    );
    let out = sb.lempctl().arg("apply").output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("u32"));

    // every problem of a file at once, not only the first
    sb.write_site(
        "a.yaml",
        "name: a.example.test\nkind: php\nkind: static\nphp:\n  max_children: -3\n  memory_limit: [1]\nbogus: 1\n",
    );
    let out = sb.lempctl().arg("apply").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "a.yaml:3:1: `kind`",
        "a.yaml:5:17: `php.max_children`",
        "a.yaml:6:17: `php.memory_limit`",
        "a.yaml:7:1: `bogus`: unknown field",
    ] {
        assert!(err.contains(want), "{want} in:\n{err}");
    }

    sb.write_site(
        "a.yaml",
        "name: a.example.test\nkind: php\nphp:\n  version: \"8.9\"\n",
    );
    refused(
        &sb,
        &["apply", "--dry-run"],
        "PHP 8.9 is not installed here",
    );
    refused(&sb, &["apply"], "installed: 8.2 (install php8.9-fpm");
    std::fs::remove_file(sb.path("/etc/lempctl/sites.d/a.yaml")).unwrap();
    refused(
        &sb,
        &[
            "site",
            "create",
            "b.example.test",
            "--kind",
            "php",
            "--php-version",
            "8.9",
        ],
        "installed: 8.2",
    );
    assert!(!sb.path("/etc/lempctl/sites.d/b.example.test.yaml").exists());
    // a value from the command line is named by its flag, not by a line of a file not yet written
    refused(
        &sb,
        &[
            "site",
            "create",
            "r.example.test",
            "--kind",
            "redirect",
            "--to",
            "not a url",
        ],
        "error: `--to`: `not a url` is not an http(s) URL",
    );
    sb.write_site("s.yaml", STATIC_SITE);
    refused(
        &sb,
        &[
            "site",
            "update",
            "static.example.test",
            "--memory-limit",
            "512M",
        ],
        "runs no PHP; drop --memory-limit",
    );
}
