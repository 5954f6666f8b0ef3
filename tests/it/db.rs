//! Site databases against the sandbox's private MariaDB, checked from outside with the client.

use crate::support::*;

const A: &str = "name: a.db.test\nkind: php\ndb: {}\n";
const B: &str = "name: b.db.test\nkind: php\ndb: {}\n";

fn creds(sb: &Sandbox, site: &str) -> (String, String, String) {
    let show = sb.show(site);
    let pw = sb.secrets(site)["db_password"].as_str().unwrap().to_owned();
    (
        show["database"].as_str().unwrap().to_owned(),
        show["db_user"].as_str().unwrap().to_owned(),
        pw,
    )
}

#[test]
fn site_databases_are_isolated_idempotent_and_rotatable() {
    require!(DB);
    let sb = Sandbox::with_db()
        .site("a.yaml", A)
        .site("b.yaml", B)
        .started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    assert!(v["changes"].to_string().contains("create database"), "{v}");
    let mode = std::fs::metadata(sb.path("/var/lib/lempctl/credentials/a.db.test.json")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let (db_a, user_a, pw_a) = creds(&sb, "a.db.test");
    let (db_b, _, _) = creds(&sb, "b.db.test");
    let ok = sb.sql_as(&user_a, &pw_a, &format!("CREATE TABLE `{db_a}`.t (id INT); INSERT INTO `{db_a}`.t VALUES (1); SELECT COUNT(*) FROM `{db_a}`.t"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let other = sb.sql_as(&user_a, &pw_a, &format!("SELECT 1 FROM `{db_b}`.t"));
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("denied"),
        "{other:?}"
    );
    let mysql = sb.sql_as(&user_a, &pw_a, "SELECT COUNT(*) FROM mysql.user");
    assert!(
        String::from_utf8_lossy(&mysql.stderr).contains("denied"),
        "{mysql:?}"
    );

    let before = sb.tree();
    let (code, again, _) = sb.json(&["apply"]);
    assert_eq!(code, 0);
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(before, sb.tree());

    let (code, _, err) = sb.json(&["db", "passwd", "a.db.test"]);
    assert_eq!(code, 0, "{err}");
    let new_pw = sb.secrets("a.db.test")["db_password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_pw, pw_a);
    assert!(
        !sb.sql_as(&user_a, &pw_a, "SELECT 1").status.success(),
        "old password still works"
    );
    assert!(
        sb.sql_as(&user_a, &new_pw, "SELECT 1").status.success(),
        "new password does not work"
    );
    let (_, again, _) = sb.json(&["apply"]);
    assert_eq!(again["changed"], false, "{again}");

    let out = sb
        .lempctl()
        .args(["db", "list", "--json"])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(list[0]["size_bytes"].as_u64().unwrap() > 0, "{list}");
}

#[test]
fn db_create_adds_a_db_section_to_a_site_without_one() {
    require!(DB);
    let original = "# the shop\nname: c.db.test\nkind: php   # no database yet\n";
    let sb = Sandbox::with_db()
        .site("c.yaml", original)
        .site("s.yaml", "name: s.db.test\nkind: static\n")
        .started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(sb.show("c.db.test")["database"].is_null());
    let file = sb.path("/etc/lempctl/sites.d/c.yaml");

    // --dry-run plans the database and writes nothing.
    let before = sb.tree();
    let (code, v, err) = sb.json(&["db", "create", "c.db.test", "--dry-run"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(v["changes"].to_string().contains("create database"), "{v}");
    assert_eq!(before, sb.tree());

    let (code, v, err) = sb.json(&["db", "create", "c.db.test"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with(original), "comments kept:\n{text}");
    assert!(text.ends_with("db: {}\n"), "{text}");
    let (db, user, pw) = creds(&sb, "c.db.test");
    let exists = sb.sql_root(&format!(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{db}'"
    ));
    assert_eq!(exists.trim(), db, "the database exists");
    let out = sb.sql_as(
        &user,
        &pw,
        &format!("CREATE TABLE `{db}`.t (id INT); SELECT 1"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The site file is what apply reads: nothing left to do, and a second create changes nothing.
    let (_, again, _) = sb.json(&["apply"]);
    assert_eq!(again["changed"], false, "{again}");
    let (code, again, err) = sb.json(&["db", "create", "c.db.test"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    // A static site runs no PHP: refused, nothing written.
    let before = sb.tree();
    let out = sb
        .lempctl()
        .args(["db", "create", "s.db.test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs no PHP"));
    assert_eq!(before, sb.tree());
}

#[test]
fn dropping_takes_a_dump_that_restores_the_rows() {
    require!(DB);
    let sb = Sandbox::with_db().site("a.yaml", A).started();
    sb.lempctl().arg("apply").assert().success();
    let (db, user, pw) = creds(&sb, "a.db.test");
    let fill = sb.sql_as(&user, &pw, &format!("CREATE TABLE `{db}`.posts (id INT PRIMARY KEY, title TEXT); INSERT INTO `{db}`.posts VALUES (1, 'it''s'), (2, 'two'), (3, 'ünï')"));
    assert!(
        fill.status.success(),
        "{}",
        String::from_utf8_lossy(&fill.stderr)
    );
    let out = sb
        .lempctl()
        .args(["db", "drop", "a.db.test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "needs --yes without a terminal");
    let (code, v, err) = sb.json(&["db", "drop", "a.db.test", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(v["changes"].to_string().contains("drop user"), "{v}");
    assert_eq!(
        sb.sql_root(&format!(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{db}'"
        )),
        "0"
    );
    let dumps: Vec<_> = std::fs::read_dir(sb.path("/var/lib/lempctl/archive"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dumps.len(), 1, "{dumps:?}");
    sb.sql_root("CREATE DATABASE restored");
    let restore = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zstd -dc '{}' | mariadb --no-defaults -S '{}' -u root restored",
            dumps[0].display(),
            sb.db_socket().display()
        ))
        .output()
        .unwrap();
    assert!(
        restore.status.success(),
        "{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    assert_eq!(
        sb.sql_root("SELECT GROUP_CONCAT(title ORDER BY id) FROM restored.posts"),
        "it's,two,ünï"
    );
}

#[test]
fn database_down_or_bad_admin_credentials_fail_without_writing_anything() {
    require!(DB);
    let sb = Sandbox::with_db().started();
    sb.write_site("a.yaml", A);
    // Wrong admin credentials over TCP.
    sb.write(
        "/etc/lempctl/mariadb-admin.cnf",
        "user=root\npassword=wrong\n",
    );
    std::fs::set_permissions(
        sb.path("/etc/lempctl/mariadb-admin.cnf"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let conf = sb.path("/etc/lempctl/lempctl.yaml");
    let original = std::fs::read_to_string(&conf).unwrap();
    let tcp = original.replace("database:\n  socket: /run/mysqld/mysqld.sock\n", &format!("database:\n  host: 127.0.0.1\n  port: {}\n  credentials_file: /etc/lempctl/mariadb-admin.cnf\n", sb.db_port()));
    assert_ne!(tcp, original);
    std::fs::write(&conf, &tcp).unwrap();
    let before = sb.tree();
    let out = sb.lempctl().arg("apply").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("authentication failed"), "{err}");
    assert_eq!(before, sb.tree(), "nothing written");
    // The server down.
    std::fs::write(&conf, &original).unwrap();
    sb.lempctl().args(["sandbox", "stop"]).assert().success();
    let before = sb.tree();
    let out = sb.lempctl().arg("apply").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("unreachable"), "{err}");
    assert_eq!(before, sb.tree(), "nothing written");
    assert!(
        !sb.path("/var/lib/lempctl/credentials/a.db.test.json")
            .exists()
    );
}

#[test]
fn bad_database_names_are_refused() {
    let sb = Sandbox::with_db();
    let cases = [
        (
            "name: a.db.test\nkind: php\ndb:\n  name: \"it's\"\n",
            "`db.name`",
        ),
        (
            "name: a.db.test\nkind: php\ndb:\n  name: \"a`b\"\n",
            "backtick",
        ),
        (
            "name: a.db.test\nkind: php\ndb:\n  user: \"a b\"\n",
            "`db.user`",
        ),
        (
            &format!(
                "name: a.db.test\nkind: php\ndb:\n  name: {}\n",
                "x".repeat(65)
            ),
            "at most 64",
        ),
        (
            &format!(
                "name: a.db.test\nkind: php\ndb:\n  user: {}\n",
                "u".repeat(33)
            ),
            "at most 32",
        ),
    ];
    for (yaml, why) in cases {
        sb.write_site("a.yaml", yaml);
        let before = sb.tree();
        let out = sb.lempctl().arg("apply").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {err}");
        assert!(err.contains(why), "{yaml}: expected {why:?} in {err}");
        assert_eq!(before, sb.tree());
    }
    // Two sites claiming one database.
    sb.write_site(
        "a.yaml",
        "name: a.db.test\nkind: php\ndb:\n  name: shared\n",
    );
    sb.write_site(
        "b.yaml",
        "name: b.db.test\nkind: php\ndb:\n  name: shared\n",
    );
    let out = sb.lempctl().arg("apply").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("shared") && err.contains("a.db.test") && err.contains("b.db.test"),
        "{err}"
    );
    // Long names that share a prefix still get distinct derived names.
    let long = "x".repeat(60);
    sb.write_site(
        "a.yaml",
        &format!("name: {long}.one.test\nkind: php\ndb: {{}}\n"),
    );
    sb.write_site(
        "b.yaml",
        &format!("name: {long}.two.test\nkind: php\ndb: {{}}\n"),
    );
    let (one, two) = (
        sb.show(&format!("{long}.one.test")),
        sb.show(&format!("{long}.two.test")),
    );
    assert_ne!(one["database"], two["database"]);
    assert!(
        one["database"].as_str().unwrap().len() <= 64
            && one["db_user"].as_str().unwrap().len() <= 32
    );
}

#[test]
fn a_remote_style_tcp_admin_with_a_password_works() {
    require!(DB);
    let sb = Sandbox::with_db().started();
    sb.sql_root("CREATE USER 'lempadmin'@'127.0.0.1' IDENTIFIED BY 'Adm1n-pw'; GRANT ALL PRIVILEGES ON *.* TO 'lempadmin'@'127.0.0.1' WITH GRANT OPTION");
    sb.write(
        "/etc/lempctl/mariadb-admin.cnf",
        "[client]\nuser=lempadmin\npassword=Adm1n-pw\n",
    );
    std::fs::set_permissions(
        sb.path("/etc/lempctl/mariadb-admin.cnf"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let conf = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        "database:\n  socket: /run/mysqld/mysqld.sock\n",
        &format!("database:\n  host: 127.0.0.1\n  port: {}\n  credentials_file: /etc/lempctl/mariadb-admin.cnf\n  web_hosts: [127.0.0.1]\n", sb.db_port()),
    );
    std::fs::write(&conf, text).unwrap();
    sb.write_site("a.yaml", A);
    let (code, _, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    let (db, user, pw) = creds(&sb, "a.db.test");
    assert_eq!(
        sb.sql_root(&format!(
            "SELECT Host FROM mysql.user WHERE User = '{user}'"
        )),
        "127.0.0.1"
    );
    let out = std::process::Command::new("mariadb")
        .args([
            "--no-defaults",
            "-N",
            "-h",
            "127.0.0.1",
            "-P",
            &sb.db_port().to_string(),
            "-u",
            &user,
        ])
        .arg(format!("-p{pw}"))
        .args([
            "-e",
            &format!("CREATE TABLE `{db}`.t (id INT); SELECT 'ok'"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, again, _) = sb.json(&["apply"]);
    assert_eq!(again["changed"], false);
}

#[test]
fn extra_grants_are_drift_that_apply_corrects_and_purge_dumps_then_drops() {
    require!(DB);
    let sb = Sandbox::with_db()
        .site("a.yaml", A)
        .site("b.yaml", B)
        .started();
    sb.lempctl().arg("apply").assert().success();
    let (db_a, user_a, pw_a) = creds(&sb, "a.db.test");
    let (db_b, _, _) = creds(&sb, "b.db.test");
    // Someone grants site A's user access to site B's database by hand.
    sb.sql_root(&format!(
        "GRANT SELECT ON `{db_b}`.* TO '{user_a}'@'localhost'"
    ));
    assert!(
        sb.sql_as(
            &user_a,
            &pw_a,
            &format!("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{db_b}'")
        )
        .status
        .success()
    );
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    assert!(v["warnings"].to_string().contains("drift"), "{v}");
    let denied = sb.sql_as(&user_a, &pw_a, &format!("USE `{db_b}`"));
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("denied"),
        "{denied:?}"
    );
    let (_, again, _) = sb.json(&["apply"]);
    assert_eq!(again["changed"], false, "{again}");

    // `site remove --purge` dumps the database into the archive before dropping it.
    let fill = sb.sql_as(
        &user_a,
        &pw_a,
        &format!("CREATE TABLE `{db_a}`.t (id INT); INSERT INTO `{db_a}`.t VALUES (42)"),
    );
    assert!(fill.status.success());
    let (code, v, err) = sb.json(&["site", "remove", "a.db.test", "--purge", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        v["changes"]
            .to_string()
            .contains(&format!("dump database {db_a}")),
        "{v}"
    );
    assert_eq!(
        sb.sql_root(&format!(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{db_a}'"
        )),
        "0"
    );
    assert_eq!(
        sb.sql_root(&format!(
            "SELECT COUNT(*) FROM mysql.user WHERE User = '{user_a}'"
        )),
        "0"
    );
    let archive = sb.path("/var/lib/lempctl/archive");
    let dumps: Vec<_> = std::fs::read_dir(&archive)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".sql.zst"))
        .collect();
    assert_eq!(dumps.len(), 1, "{dumps:?}");
    let sql = std::process::Command::new("zstd")
        .arg("-dc")
        .arg(archive.join(&dumps[0]))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&sql.stdout).contains("INSERT INTO `t` VALUES"),
        "the dump holds the rows"
    );
}
