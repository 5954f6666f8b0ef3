//! `--dry-run` promises "change nothing": every subcommand of the binary (found by walking its
//! `--help`, so a new command cannot be missed) is run with it against a sandbox that has sites,
//! a database, a backup repository and an S3 bucket; after each one the file tree, the
//! databases and the bucket are what they were. A command either honours the flag or refuses it
//! (exit 2) — the expected answer of each is listed here.

use std::collections::BTreeMap;

use crate::backup;
use crate::support::*;

/// How each command answers `--dry-run`: `true` honours it (or reads only), `false` refuses (exit 2).
fn expected() -> BTreeMap<&'static str, (Vec<&'static str>, bool)> {
    let s = backup::NAME;
    BTreeMap::from([
        ("apply", (vec![], true)),
        ("site create", (vec!["new.dry.test", "--kind", "php"], true)),
        (
            "site put",
            (
                vec![
                    "php.example.test",
                    "--file",
                    concat!(env!("CARGO_MANIFEST_DIR"), "/sites.d/php.example.test.yaml"),
                ],
                true,
            ),
        ),
        ("site clone", (vec![s, "clone.dry.test"], true)),
        ("site promote", (vec!["stage.dry.test", s, "--yes"], true)),
        ("site remove", (vec![s, "--purge"], true)),
        (
            "site update",
            (
                vec![s, "--memory-limit", "512M", "--alias", "x.dry.test"],
                true,
            ),
        ),
        ("site list", (vec![], true)),
        ("site show", (vec![s], true)),
        ("site enable", (vec![s], true)),
        ("site disable", (vec![s], true)),
        ("db create", (vec![s], true)),
        ("db drop", (vec![s], true)),
        ("db list", (vec![], true)),
        ("db passwd", (vec![s], false)),
        ("db dump", (vec![s], false)),
        ("wp install", (vec![s], true)),
        ("wp cron", (vec![s], false)),
        ("wp purge", (vec![s], false)),
        ("wp login-url", (vec![s], true)),
        ("wp admin-password", (vec![s], false)),
        ("s3 sync", (vec![s], true)),
        ("backup init", (vec![], false)),
        ("backup run", (vec![s], false)),
        ("backup list", (vec![], true)),
        ("backup restore", (vec![s], true)),
        ("backup prune", (vec![], false)),
        ("backup verify", (vec![], false)),
        ("cert issue", (vec!["--all"], true)),
        ("cert renew", (vec![], true)),
        ("cert check", (vec![], true)),
        ("cert list", (vec![], true)),
        ("security status", (vec![], true)),
        ("security unban", (vec!["192.0.2.1"], false)),
        ("status", (vec![], true)),
        ("alert", (vec!["lempctl-apply.service"], false)),
        ("doctor", (vec![], true)),
        ("import wpzo", (vec!["--from", "/etc"], true)),
        ("sandbox init", (vec!["/tmp/lempctl-dry-run-never"], false)),
        ("sandbox start", (vec![], false)),
        ("sandbox stop", (vec![], false)),
        ("sandbox status", (vec![], true)),
        ("completions", (vec!["bash"], true)),
        ("man", (vec![], true)),
    ])
}

/// Every leaf command path of the binary.
fn leaves() -> Vec<String> {
    let mut out = Vec::new();
    let mut queue = vec![Vec::<String>::new()];
    while let Some(path) = queue.pop() {
        let help = std::process::Command::new(bin())
            .args(&path)
            .arg("--help")
            .output()
            .unwrap();
        let subs = crate::cli::subcommands(&String::from_utf8_lossy(&help.stdout));
        if subs.is_empty() {
            out.push(path.join(" "));
        }
        for s in subs {
            queue.push([path.clone(), vec![s]].concat());
        }
    }
    out.sort();
    out
}

#[test]
fn every_command_honours_or_refuses_dry_run_and_changes_nothing() {
    let (sb, _repo) = require!(backup::setup());
    let moto = require!(start_moto());
    // the site also publishes to a bucket, and has a backup to restore
    let creds = sb.path("/etc/lempctl/s3-credentials");
    std::fs::write(
        &creds,
        "[default]\naws_access_key_id = test\naws_secret_access_key = test\n",
    )
    .unwrap();
    std::fs::set_permissions(&creds, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(
        &g,
        format!("{text}s3:\n  credentials_file: /etc/lempctl/s3-credentials\n"),
    )
    .unwrap();
    let site_file = sb.path("/etc/lempctl/sites.d/shop.yaml");
    let text = std::fs::read_to_string(&site_file).unwrap();
    std::fs::write(
        &site_file,
        format!(
            "{text}s3:\n  bucket: dry\n  endpoint: {}\n  path_style: true\n",
            moto.endpoint()
        ),
    )
    .unwrap();
    let made = std::process::Command::new("curl")
        .args(["-sf", "-X", "PUT"])
        .arg(format!("{}/dry", moto.endpoint()))
        .status()
        .unwrap();
    assert!(made.success());
    // a staging copy to promote
    sb.write_site("stage.yaml", "name: stage.dry.test\nkind: php\ndb: {}\n");
    std::fs::create_dir_all(sb.path(&format!("/srv/www/{}/static", backup::NAME))).unwrap();
    std::fs::write(
        sb.path(&format!("/srv/www/{}/static/index.html", backup::NAME)),
        "hi",
    )
    .unwrap();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let (code, v, err) = sb.json(&["backup", "run", backup::NAME]);
    assert_eq!(code, 0, "{err}\n{v}");

    let db_state = || {
        sb.sql_root(
            "SELECT GROUP_CONCAT(schema_name ORDER BY schema_name) FROM information_schema.schemata; \
             SELECT GROUP_CONCAT(CONCAT(user,'@',host,':',authentication_string) ORDER BY user) FROM mysql.user; \
             SELECT GROUP_CONCAT(CONCAT(table_schema,'.',table_name,':',COALESCE(update_time,''),':',table_rows) ORDER BY table_name) FROM information_schema.tables WHERE table_schema LIKE 'shop%'",
        )
    };
    // the repository's own cache and lock files change on any read
    let tree = || {
        sb.tree()
            .into_iter()
            .filter(|(p, _)| {
                let p = p.to_string_lossy();
                !p.starts_with("var/lib/mysql")
                    && !p.contains("lempctl/backup/cache")
                    && !p.contains("/locks/")
            })
            .collect::<BTreeMap<_, _>>()
    };
    let writes = |from| {
        moto.logged("\"PUT /", from)
            + moto.logged("\"POST /", from)
            + moto.logged("\"DELETE /", from)
    };
    let mut table = expected();
    let leaves = leaves();
    for leaf in &leaves {
        let (args, honoured) = table.remove(leaf.as_str()).unwrap_or_else(|| {
            panic!("`{leaf}` is not listed in dry_run::expected(): say how it answers --dry-run")
        });
        let (tree0, db0, log0) = (tree(), db_state(), moto.log_len());
        let out = sb
            .lempctl()
            .arg("--dry-run")
            .args(leaf.split(' '))
            .args(&args)
            .output()
            .unwrap();
        let said = format!(
            "`{leaf}`: {:?}\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if honoured {
            assert_ne!(out.status.code(), Some(101), "{said}");
        } else {
            assert_eq!(out.status.code(), Some(2), "refused with exit 2: {said}");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("no dry run"),
                "{said}"
            );
        }
        assert_eq!(tree(), tree0, "the tree changed: {said}");
        assert_eq!(db_state(), db0, "the databases changed: {said}");
        assert_eq!(writes(log0), 0, "the bucket was written: {said}");
    }
    assert!(table.is_empty(), "listed but not in the binary: {table:?}");

    // the honoured ones say what they would do
    let (code, v, err) = sb.json(&["--dry-run", "backup", "restore", backup::NAME]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["dry_run"], true, "{v}");
    assert_eq!(v["database_restored"], true, "{v}");
    assert!(v["safety_run"].is_null(), "{v}");
    let (code, v, err) = sb.json(&["--dry-run", "s3", "sync", backup::NAME]);
    assert_eq!(code, 0, "{err}\n{v}");
}
