//! Backups with the real restic against a sandbox (private nginx, php-fpm, MariaDB), checked from
//! outside: files on disk, rows through the client, HTTP, and the repository through plain restic.

use std::path::{Path, PathBuf};

use crate::support::*;

const SITE: &str = "name: shop.backup.test\nkind: php\ndb: {}\nbackup:\n  keep_last: 2\n  keep_daily: 0\n  keep_weekly: 0\n  keep_monthly: 0\n";
pub(crate) const NAME: &str = "shop.backup.test";

fn needs() -> Need<()> {
    let mut p = DB.to_vec();
    p.push("restic");
    p.push("mariadb");
    programs(&p)
}

/// Adds a `backup:` section (repository inside the sandbox) to lempctl.yaml.
fn configure(sb: &Sandbox) -> PathBuf {
    let path = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("{text}backup:\n  repository: /var/backups/lempctl\n  textfile_dir: /var/lib/node-exporter\n"),
    )
    .unwrap();
    sb.path("/var/backups/lempctl")
}

fn repo_bytes(repo: &Path) -> u64 {
    walkdir::WalkDir::new(repo)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// The tree minus restic's own bookkeeping (cache, repository locks), which any read changes.
fn site_state(sb: &Sandbox) -> Vec<String> {
    sb.tree()
        .into_iter()
        .filter(|(p, _)| {
            let p = p.to_string_lossy();
            !p.starts_with("var/backups")
                && !p.ends_with("backup.lock")
                && !p.contains("lempctl/backup/cache")
                && !p.starts_with("var/lib/mysql")
        })
        .map(|(p, m)| format!("{} {m:?}", p.display()))
        .collect()
}

fn db_name(sb: &Sandbox) -> String {
    sb.show(NAME)["database"].as_str().unwrap().to_owned()
}

pub(crate) fn setup() -> Need<(Sandbox, PathBuf)> {
    needs()?;
    let sb = Sandbox::with_db();
    let repo = configure(&sb);
    let sb = sb.site("shop.yaml", SITE).started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let db = db_name(&sb);
    sb.sql_root(&format!(
        "CREATE TABLE `{db}`.orders (id INT PRIMARY KEY, note TEXT); INSERT INTO `{db}`.orders VALUES (1,'a'),(2,'b\\nc'),(3,'quote''s'); CREATE TABLE `{db}`.empty (x INT)"
    ));
    let docroot = sb.path("/srv/www/shop.backup.test/htdocs");
    std::fs::write(docroot.join("index.php"), "<?php echo 'shop-' . (1+2);\n").unwrap();
    std::fs::create_dir_all(docroot.join("uploads/2024")).unwrap();
    for i in 0..50 {
        std::fs::write(
            docroot.join(format!("uploads/2024/img{i}.bin")),
            vec![i as u8; 3000 + i],
        )
        .unwrap();
    }
    std::fs::create_dir_all(docroot.join("wp-content/cache")).unwrap();
    std::fs::write(docroot.join("wp-content/cache/page.html"), "cached").unwrap();
    Ok((sb, repo))
}

#[test]
fn backup_damage_restore_serves_again_and_second_backup_adds_little() {
    let (sb, repo) = require!(setup());
    assert_eq!(sb.get(NAME, "/").body.trim(), "shop-3");
    let docroot = sb.path("/srv/www/shop.backup.test/htdocs");
    let before: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(&docroot)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_type().is_file() && !e.path().to_string_lossy().contains("wp-content/cache")
        })
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect();

    let (code, v, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(v["runs"][0]["db_snapshot"].is_string(), "{v}");
    // One key, lempctl's re-sealed one with cheap scrypt parameters (the generated password is
    // not guessable), which plain restic opens.
    let keys: Vec<PathBuf> = std::fs::read_dir(repo.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key: serde_json::Value = serde_json::from_slice(&std::fs::read(&keys[0]).unwrap()).unwrap();
    assert_eq!(
        (key["N"].as_u64(), key["username"].as_str()),
        (Some(4096), Some("lempctl")),
        "{key}"
    );
    let listed = restic(&sb, &repo, &["key", "list", "--json"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("\"userName\":\"lempctl\""),
        "{listed:?}"
    );
    let mode = std::fs::metadata(sb.path("/var/lib/lempctl/backup/lempctl.password")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    // Plain restic reads the repository: snapshots tagged by site, the dump and the excludes.
    let snaps = restic(
        &sb,
        &repo,
        &["snapshots", "--json", "--tag", &format!("site={NAME}")],
    );
    assert!(
        snaps.status.success(),
        "{}",
        String::from_utf8_lossy(&snaps.stderr)
    );
    let snaps: serde_json::Value = serde_json::from_slice(&snaps.stdout).unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 2, "{snaps}");
    let dump = restic(
        &sb,
        &repo,
        &[
            "dump",
            "latest",
            &format!("/lempctl/{NAME}/db.sql"),
            "--tag",
            "part=db",
        ],
    );
    assert!(
        String::from_utf8_lossy(&dump.stdout)
            .contains("INSERT INTO `orders` VALUES (3,'quote\\'s')")
    );
    // the dump describes itself at its end (an SQL comment): rows per table, its checksum
    assert!(
        String::from_utf8_lossy(&dump.stdout)
            .contains("\n-- lempctl-dump {\"tables\":{\"empty\":0,\"orders\":3},\"sha256\":"),
        "{}",
        String::from_utf8_lossy(&dump.stdout)
    );
    let ls = restic(&sb, &repo, &["ls", "latest", "--tag", "part=files"]);
    let ls = String::from_utf8_lossy(&ls.stdout);
    assert!(
        ls.contains("uploads/2024/img7.bin") && ls.contains("sites.d/shop.yaml"),
        "{ls}"
    );
    assert!(ls.contains("credentials/shop.backup.test.json"), "{ls}");
    assert!(
        !ls.contains("wp-content/cache/page.html"),
        "cache excluded: {ls}"
    );

    // A second backup of the unchanged site adds almost nothing.
    let size1 = repo_bytes(&repo);
    let (code, v, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 0, "{err}");
    let added = repo_bytes(&repo) - size1;
    assert!(
        added < 8 * 1024,
        "second backup grew the repository by {added} bytes: {v}"
    );

    // The textfile for node_exporter.
    let prom =
        std::fs::read_to_string(sb.path("/var/lib/node-exporter/lempctl_backup.prom")).unwrap();
    assert!(
        prom.contains(&format!(
            "lempctl_backup_last_run_success{{site=\"{NAME}\"}} 1"
        )),
        "{prom}"
    );
    assert!(
        prom.contains("lempctl_backup_last_success_timestamp_seconds{site="),
        "{prom}"
    );

    // Damage: delete files, change one, drop the table.
    std::fs::remove_file(docroot.join("index.php")).unwrap();
    std::fs::remove_dir_all(docroot.join("uploads")).unwrap();
    let db = db_name(&sb);
    sb.sql_root(&format!("DROP TABLE `{db}`.orders"));
    assert_ne!(sb.get(NAME, "/").status, 200);

    let (code, v, err) = sb.json(&["backup", "restore", NAME, "--yes"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(v["safety_run"].is_string(), "{v}");
    for (p, bytes) in &before {
        assert_eq!(&std::fs::read(p).unwrap(), bytes, "{}", p.display());
    }
    let meta = std::fs::metadata(docroot.join("index.php")).unwrap();
    let site_uid = nix::unistd::User::from_name("shop-backup-test")
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw());
    let _ = (meta, site_uid);
    assert_eq!(
        sb.sql_root(&format!(
            "SELECT COUNT(*), GROUP_CONCAT(note ORDER BY id) FROM `{db}`.orders"
        )),
        "3\ta,b\\nc,quote's"
    );
    assert_eq!(sb.get(NAME, "/").body.trim(), "shop-3");

    // list shows the runs and the safety run; verify is clean.
    let (code, v, _) = sb.json(&["backup", "list", NAME]);
    assert_eq!(code, 0);
    let runs = v.as_array().unwrap();
    assert_eq!(runs.len(), 3, "{v}");
    assert_eq!(runs.iter().filter(|r| r["safety"] == true).count(), 1);
    let (code, v, err) = sb.json(&["backup", "verify"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["sites"][0]["rows"], 3, "{v}");
    assert_eq!(v["sites"][0]["tables"], 2, "{v}");
    let leftovers = sb.sql_root("SHOW DATABASES LIKE 'lempctl_verify%'");
    assert!(leftovers.is_empty(), "scratch database left: {leftovers}");
}

#[test]
fn verify_detects_a_damaged_repository() {
    let (sb, repo) = require!(setup());
    let (code, _, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = sb.json(&["backup", "verify"]);
    assert_eq!(code, 0, "{err}");
    // Damage the biggest pack file (data, not metadata).
    let pack = walkdir::WalkDir::new(repo.join("data"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap()
        .into_path();
    let mut bytes = std::fs::read(&pack).unwrap();
    std::fs::set_permissions(&pack, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    for b in bytes.iter_mut().skip(100).take(2000) {
        *b ^= 0x5a;
    }
    std::fs::write(&pack, bytes).unwrap();
    let (code, v, err) = sb.json(&["backup", "verify"]);
    assert_eq!(code, 1, "{err}\n{v}");
    assert!(err.contains("verification failed"), "{err}");
}

fn run_json(sb: &Sandbox) -> serde_json::Value {
    let (code, v, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 0, "{err}\n{v}");
    v["runs"][0].clone()
}

fn listed(sb: &Sandbox) -> Vec<serde_json::Value> {
    let (code, v, err) = sb.json(&["backup", "list", NAME]);
    assert_eq!(code, 0, "{err}");
    v.as_array().unwrap().clone()
}

#[test]
fn retention_keeps_what_the_policy_says() {
    let (sb, repo) = require!(setup());
    let db = db_name(&sb);
    // run 1 dumps; a row changes; run 2 dumps again; runs 3 and 4 find the database unchanged
    // and refer to run 2's dump
    run_json(&sb);
    sb.sql_root(&format!(
        "UPDATE `{db}`.orders SET note = 'changed' WHERE id = 1"
    ));
    let reused: Vec<bool> = (0..3)
        .map(|_| run_json(&sb)["dump_reused"].as_bool().unwrap())
        .collect();
    assert_eq!(reused, [false, true, true]);
    let runs = listed(&sb);
    assert_eq!(runs.len(), 4);
    let run2_dump = runs[1]["db_snapshot"].as_str().unwrap().to_owned();
    let (code, v, err) = sb.json(&["backup", "prune"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let kept = listed(&sb);
    let ids = |v: &[serde_json::Value]| -> Vec<String> {
        v.iter()
            .map(|r| r["run"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&kept),
        ids(&runs[2..]),
        "keep_last: 2 keeps the two newest runs"
    );
    for r in &kept {
        assert_eq!(r["db_snapshot"], run2_dump.as_str(), "{r}");
        assert!(r["files_snapshot"].is_string(), "{r}");
    }
    // plain restic: two files snapshots and the one dump they use; run 1's dump is gone
    let all = restic(&sb, &repo, &["snapshots", "--json"]);
    let all: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    let mut parts: Vec<String> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let tags = s["tags"].as_array().unwrap();
            let part = tags.iter().find_map(|t| t.as_str()?.strip_prefix("part="));
            format!("{} {}", part.unwrap(), &s["id"].as_str().unwrap()[..8])
        })
        .collect();
    parts.sort();
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert_eq!(parts[0], format!("db {}", &run2_dump[..8]), "{parts:?}");
    let check = restic(&sb, &repo, &["check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // the newest run restores the database as it was when run 2 dumped it
    sb.sql_root(&format!("DELETE FROM `{db}`.orders"));
    let (code, v, err) = sb.json(&["backup", "restore", NAME, "--db-only", "--yes"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(
        sb.sql_root(&format!(
            "SELECT GROUP_CONCAT(note ORDER BY id) FROM `{db}`.orders"
        )),
        "changed,b\\nc,quote's"
    );
}

#[test]
fn an_unchanged_database_is_not_dumped_again_and_any_change_is() {
    let (sb, _repo) = require!(setup());
    let db = db_name(&sb);
    let first = run_json(&sb);
    assert_eq!(first["dump_reused"], false, "{first}");
    let second = run_json(&sb);
    assert_eq!(second["dump_reused"], true, "{second}");
    assert_eq!(second["db_snapshot"], first["db_snapshot"]);
    // a row, then only the schema, then a row put back as it was: each is dumped
    let changes = [
        format!("UPDATE `{db}`.orders SET note = 'x' WHERE id = 2"),
        format!("ALTER TABLE `{db}`.orders ADD INDEX by_note (note(10))"),
        format!("UPDATE `{db}`.orders SET note = 'b\\nc' WHERE id = 2"),
        format!(
            "CREATE TRIGGER `{db}`.t BEFORE INSERT ON `{db}`.orders FOR EACH ROW SET NEW.note = NEW.note"
        ),
    ];
    let mut dumps = vec![first["db_snapshot"].as_str().unwrap().to_owned()];
    for sql in &changes {
        sb.sql_root(sql);
        let r = run_json(&sb);
        assert_eq!(r["dump_reused"], false, "after {sql}: {r}");
        let id = r["db_snapshot"].as_str().unwrap().to_owned();
        assert!(!dumps.contains(&id), "{id} {dumps:?}");
        dumps.push(id);
    }
    assert_eq!(run_json(&sb)["dump_reused"], true);
    // the text output says so
    let out = sb.lempctl().args(["backup", "run", NAME]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("database unchanged since its last dump"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // safety runs always dump
    let (code, v, err) = sb.json(&["backup", "restore", NAME, "--files-only", "--yes"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let runs = listed(&sb);
    let safety = runs.iter().find(|r| r["safety"] == true).unwrap();
    assert!(
        !dumps.iter().any(|d| safety["db_snapshot"]
            .as_str()
            .unwrap()
            .starts_with(d.as_str())),
        "{safety}"
    );
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let (sb, _repo) = require!(setup());
    let (code, _, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 0, "{err}");
    let before = site_state(&sb);
    let (code, v, err) = sb.json(&["backup", "restore", NAME, "--snapshot", "deadbeef", "--yes"]);
    assert_eq!(code, 2, "{err}\n{v}");
    assert!(err.contains("no backup `deadbeef`"), "{err}");
    let (code, _, err) = sb.json(&["backup", "restore", "nosuch.backup.test", "--yes"]);
    assert_eq!(code, 2);
    assert!(err.contains("no site `nosuch.backup.test`"), "{err}");
    assert_eq!(before, site_state(&sb), "nothing changed");
    let (code, v, _) = sb.json(&["backup", "list", NAME]);
    assert_eq!(
        (code, v.as_array().unwrap().len()),
        (0, 1),
        "no safety snapshot was taken: {v}"
    );
    sb.write_site(
        "shop.yaml",
        &SITE.replace("backup:\n", "backup:\n  schedule: \"61 * * * *\"\n"),
    );
    let (code, _, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("shop.yaml") && err.contains("backup.schedule"),
        "{err}"
    );
    sb.write_site("shop.yaml", SITE);
    let conf = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.split("backup:\n").next().unwrap()).unwrap();
    let (code, _, err) = sb.json(&["apply"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs a repository"), "{err}");
}

#[test]
fn backup_schedule_becomes_a_timer() {
    require!(&["systemd-analyze"]);
    let sb = Sandbox::new();
    configure(&sb);
    let sb = sb.site(
        "s.yaml",
        "name: s.backup.test\nkind: static\nbackup:\n  schedule: \"15 2 * * *\"\n",
    );
    let path = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}scheduler: systemd\n")).unwrap();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let dir = sb.path("/etc/systemd/system");
    let drop_in =
        std::fs::read_to_string(dir.join("lempctl-backup@s.backup.test.timer.d/schedule.conf"))
            .unwrap();
    assert!(drop_in.contains("OnCalendar=*-*-* 02:15:00"), "{drop_in}");
    let service = std::fs::read_to_string(dir.join("lempctl-backup@.service")).unwrap();
    assert!(service.contains("backup run --quiet %i"), "{service}");
    assert!(
        dir.join("timers.target.wants/lempctl-backup@s.backup.test.timer")
            .symlink_metadata()
            .is_ok()
    );
}

#[test]
fn purge_and_db_drop_take_a_final_backup_first() {
    let (sb, repo) = require!(setup());
    let (code, v, err) = sb.json(&["db", "drop", NAME, "--yes"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(v["final_backup"]["db_snapshot"].is_string(), "{v}");
    let dump = restic(
        &sb,
        &repo,
        &[
            "dump",
            "latest",
            &format!("/lempctl/{NAME}/db.sql"),
            "--tag",
            "part=db,reason=final",
        ],
    );
    assert!(
        String::from_utf8_lossy(&dump.stdout).contains("INSERT INTO `orders` VALUES (1,'a')"),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );

    // Put the data back, then purge the site: the final run holds its files and its rows.
    let (code, _, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    let db = db_name(&sb);
    sb.sql_root(&format!(
        "CREATE TABLE `{db}`.orders (id INT PRIMARY KEY, note TEXT); INSERT INTO `{db}`.orders VALUES (7,'last')"
    ));
    let credentials = sb.path(&format!("/var/lib/lempctl/credentials/{NAME}.json"));
    assert!(credentials.exists());
    let (code, v, err) = sb.json(&["site", "remove", NAME, "--purge", "--yes"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(!sb.path("/srv/www/shop.backup.test").exists());
    assert!(!credentials.exists(), "purge removes the credentials");
    let snaps = restic(
        &sb,
        &repo,
        &["snapshots", "--json", "--tag", "reason=final"],
    );
    let snaps: serde_json::Value = serde_json::from_slice(&snaps.stdout).unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 4, "{snaps}");
    let ls = restic(
        &sb,
        &repo,
        &["ls", "latest", "--tag", "part=files,reason=final"],
    );
    let ls = String::from_utf8_lossy(&ls.stdout);
    assert!(
        ls.contains("htdocs/index.php") && ls.contains("uploads/2024/img7.bin"),
        "{ls}"
    );
    let dump = restic(
        &sb,
        &repo,
        &[
            "dump",
            "latest",
            &format!("/lempctl/{NAME}/db.sql"),
            "--tag",
            "part=db,reason=final",
        ],
    );
    assert!(String::from_utf8_lossy(&dump.stdout).contains("VALUES (7,'last')"));
}

#[test]
fn purge_is_refused_when_the_final_backup_fails() {
    let (sb, repo) = require!(setup());
    // The repository path is a regular file: restic cannot create the repository.
    std::fs::create_dir_all(repo.parent().unwrap()).unwrap();
    std::fs::write(&repo, "not a repository").unwrap();
    let before = site_files_and_config(&sb);
    let (code, v, err) = sb.json(&["site", "remove", NAME, "--purge", "--yes"]);
    assert_eq!(code, 1, "{err}\n{v}");
    assert!(
        err.contains("final backup") || v.to_string().contains("final backup"),
        "{err}\n{v}"
    );
    let (code, v, err) = sb.json(&["db", "drop", NAME, "--yes"]);
    assert_eq!(code, 1, "{err}\n{v}");
    let after = site_files_and_config(&sb);
    assert_eq!(before, after);
    assert_eq!(sb.get(NAME, "/").body.trim(), "shop-3");
    let db = db_name(&sb);
    assert!(
        sb.sql_root(&format!("SELECT COUNT(*) FROM `{db}`.orders"))
            .contains('3')
    );
}

#[test]
fn a_failing_backup_mails_an_alert_and_records_the_failure() {
    let (sb, repo) = require!(setup());
    let sink = require!(SmtpSink::start(&sb.path("/tmp")));
    let path = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!(
            "{text}alerts:\n  smtp_host: 127.0.0.1\n  smtp_port: {}\n  from: lempctl@host.test\n  to: [ops@example.test, oncall@example.test]\n",
            sink.port
        ),
    )
    .unwrap();
    // The repository path is a regular file: restic cannot create the repository.
    std::fs::create_dir_all(repo.parent().unwrap()).unwrap();
    std::fs::write(&repo, "not a repository").unwrap();
    let before = site_files_and_config(&sb);

    let (code, v, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 1, "{err}\n{v}");
    let mail = sink.received();
    assert!(
        mail.contains(&format!("Subject: lempctl: backup of {NAME} failed on ")),
        "{mail}"
    );
    assert!(
        mail.contains("ops@example.test") && mail.contains("oncall@example.test"),
        "{mail}"
    );
    assert!(
        mail.contains("initialising the backup repository"),
        "{mail}"
    );
    let prom =
        std::fs::read_to_string(sb.path("/var/lib/node-exporter/lempctl_backup.prom")).unwrap();
    assert!(
        prom.contains(&format!(
            "lempctl_backup_last_run_success{{site=\"{NAME}\"}} 0"
        )),
        "{prom}"
    );
    assert_eq!(before, site_files_and_config(&sb));
    assert_eq!(sb.get(NAME, "/").body.trim(), "shop-3");

    // An unreachable mail relay is a warning; the exit code stays the backup's.
    drop(sink);
    let (code, v, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 1, "{err}\n{v}");
    assert!(err.contains("alert mail was not sent"), "{err}");
}

/// The site's files, its configuration and what lempctl generated for it (not the backup state).
fn site_files_and_config(sb: &Sandbox) -> Vec<String> {
    site_state(sb)
        .into_iter()
        .filter(|l| l.starts_with("etc/") || l.starts_with("srv/") || l.contains("credentials/"))
        .collect()
}

#[test]
fn restore_as_a_new_site_serves_with_its_own_database() {
    let (sb, _repo) = require!(setup());
    let (code, v, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 0, "{err}\n{v}");
    let old_db = db_name(&sb);
    const COPY: &str = "copy.backup.test";
    // An existing name is refused before anything changes.
    let (code, _, err) = sb.json(&["backup", "restore", NAME, "--as", NAME]);
    assert_eq!(code, 2, "{err}");

    let (code, v, err) = sb.json(&["backup", "restore", NAME, "--as", COPY]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(v["files"].as_u64().unwrap() > 50, "{v}");
    let site = sb.show(COPY);
    let new_db = site["database"].as_str().unwrap().to_owned();
    assert_ne!(new_db, old_db);
    assert_eq!(v["database"], new_db.as_str());
    assert_eq!(
        sb.sql_root(&format!(
            "SELECT GROUP_CONCAT(id ORDER BY id) FROM `{new_db}`.orders"
        ))
        .trim(),
        "1,2,3"
    );
    assert_eq!(sb.get(COPY, "/").body.trim(), "shop-3");
    assert_eq!(sb.get(NAME, "/").body.trim(), "shop-3");
    let user = site["user"].as_str().unwrap();
    let meta = std::fs::metadata(sb.path("/srv/www/copy.backup.test/htdocs/uploads/2024/img7.bin"))
        .unwrap();
    let uid = std::os::unix::fs::MetadataExt::uid(&meta);
    let out = std::process::Command::new("id")
        .args(["-u", user])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), uid.to_string());
    let file =
        std::fs::read_to_string(sb.path("/etc/lempctl/sites.d/copy.backup.test.yaml")).unwrap();
    assert!(
        file.contains("name: copy.backup.test") && file.contains("keep_last: 2"),
        "{file}"
    );
    // A second restore into the same name is refused.
    let (code, _, err) = sb.json(&["backup", "restore", NAME, "--as", COPY]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn restore_as_rewrites_the_wordpress_urls() {
    require!(needs(), &["php8.2", "runuser", "openssl"], wordpress());
    let sb = Sandbox::with_db();
    configure(&sb);
    // The original publishes: its own certificate, a bucket, an explicit URL and an alias.
    let certs = sb.path("/etc/ssl/blog.bk.test");
    std::fs::create_dir_all(&certs).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-days", "3", "-nodes"])
        .args(["-subj", "/CN=blog.bk.test", "-keyout"])
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
    let port = sb.port;
    let sb = sb
        .site(
            "blog.yaml",
            &format!(
                "name: blog.bk.test\nkind: wordpress\naliases:\n  - www.blog.bk.test\n\
                 wordpress:\n  title: Backup Blog\n  url: http://blog.bk.test:{port}\n  admin_email: owner@bk.test\n\
                 tls:\n  certificate: /etc/ssl/blog.bk.test/cert.pem\n  key: /etc/ssl/blog.bk.test/key.pem\n  redirect: false\n\
                 s3:\n  bucket: production-www\n  prefix: www\n"
            ),
        )
        .started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let (code, v, err) = sb.json(&["backup", "run", "blog.bk.test"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let (code, v, err) = sb.json(&["backup", "restore", "blog.bk.test", "--as", "copy.bk.test"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(v["urls_rewritten"]["columns"].as_u64() > Some(0), "{v}");
    // The copy publishes nowhere the original does: no bucket, no certificate, no URL, no alias.
    let file = std::fs::read_to_string(sb.path("/etc/lempctl/sites.d/copy.bk.test.yaml")).unwrap();
    for gone in [
        "s3:",
        "production-www",
        "tls:",
        "cert.pem",
        "url:",
        "blog.bk.test:",
        "www.blog.bk.test",
    ] {
        assert!(!file.contains(gone), "`{gone}` in the copy:\n{file}");
    }
    assert!(file.contains("title: Backup Blog"), "{file}");
    let copy = sb.show("copy.bk.test");
    let vhost =
        std::fs::read_to_string(sb.path("/etc/nginx/sites-available/copy.bk.test.conf")).unwrap();
    assert!(!vhost.contains("ssl_certificate"), "{vhost}");
    let db = copy["database"].as_str().unwrap().to_owned();
    let urls = sb.sql_root(&format!(
        "SELECT option_value FROM `{db}`.wp_options WHERE option_name IN ('siteurl','home')"
    ));
    assert!(
        urls.lines().count() == 2 && urls.lines().all(|l| l.contains("//copy.bk.test")),
        "{urls}"
    );
    let config =
        std::fs::read_to_string(sb.path("/srv/www/copy.bk.test/htdocs/wp-config.php")).unwrap();
    assert!(config.contains(&db), "wp-config.php of the new site");
    let old_db = sb.show("blog.bk.test")["database"]
        .as_str()
        .unwrap()
        .to_owned();
    let old = sb.sql_root(&format!(
        "SELECT option_value FROM `{old_db}`.wp_options WHERE option_name = 'home'"
    ));
    assert!(old.contains("//blog.bk.test"), "{old}");
}

/// A repository on S3 (moto): backup, damage, restore, and plain restic reads it.
#[test]
fn an_s3_repository_backs_up_restores_and_is_readable_by_restic() {
    require!(needs());
    let moto = require!(start_moto());
    // The bucket exists beforehand, as with a real provider.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", moto.port)).unwrap();
    std::io::Write::write_all(&mut s, b"PUT /lempctl-backups HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut s, &mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let url = format!("s3:http://127.0.0.1:{}/lempctl-backups/repo", moto.port);
    let sb = Sandbox::with_db();
    let conf = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{text}backup:\n  repository: {url}\n")).unwrap();
    let sb = sb.site("shop.yaml", SITE).started();
    sb.lempctl().arg("apply").assert().success();
    let index = sb.path("/srv/www/shop.backup.test/htdocs/index.php");
    std::fs::write(&index, "<?php echo 'from-s3';\n").unwrap();
    let keys = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let run = |args: &[&str]| {
        sb.lempctl()
            .envs(keys)
            .args(args)
            .arg("--json")
            .output()
            .unwrap()
    };
    let out = run(&["backup", "run", NAME]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&index).unwrap();
    let out = run(&["backup", "restore", NAME, "--files-only", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&index).unwrap(),
        "<?php echo 'from-s3';\n"
    );
    assert_eq!(sb.get(NAME, "/").body.trim(), "from-s3");
    let snaps = restic_command(&sb, &url, "repo.password", &["snapshots", "--json"])
        .envs(keys)
        .output()
        .unwrap();
    assert!(
        snaps.status.success(),
        "{}",
        String::from_utf8_lossy(&snaps.stderr)
    );
    assert!(String::from_utf8_lossy(&snaps.stdout).contains(&format!("site={NAME}")));
    // the key was re-sealed through the S3 API too: restic's only key is lempctl's
    let keys = restic_command(&sb, &url, "repo.password", &["key", "list", "--json"])
        .envs(keys)
        .output()
        .unwrap();
    let keys: serde_json::Value = serde_json::from_slice(&keys.stdout).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys[0]["userName"], "lempctl", "{keys}");
}

#[test]
fn a_vanished_repository_is_an_error_not_a_new_repository() {
    let (sb, repo) = require!(setup());
    let (code, v, err) = sb.json(&["backup", "init"]);
    assert_eq!(
        (code, &v["created"]),
        (0, &serde_json::json!(true)),
        "{err}\n{v}"
    );
    assert!(repo.join("config").is_file());
    let (code, v, err) = sb.json(&["backup", "init"]);
    assert_eq!(
        (code, &v["created"]),
        (0, &serde_json::json!(false)),
        "{err}\n{v}"
    );
    let out = sb.lempctl().args(["backup", "init"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("keep a copy away from this host"),
        "{out:?}"
    );
    let (code, _, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 0, "{err}");
    // the disk holding the repository is not mounted: the path is an empty directory
    let moved = repo.with_extension("moved");
    std::fs::rename(&repo, &moved).unwrap();
    std::fs::create_dir(&repo).unwrap();
    let (code, v, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 1, "{err}\n{v}");
    assert!(err.contains("repository"), "{err}");
    let (code, v, err) = sb.json(&["backup", "init"]);
    assert_eq!(code, 1, "{err}\n{v}");
    assert!(err.contains("was initialised before"), "{err}");
    assert_eq!(
        std::fs::read_dir(&repo).unwrap().count(),
        0,
        "nothing was initialised in its place"
    );
    // back in place, backups go on
    std::fs::remove_dir(&repo).unwrap();
    std::fs::rename(&moved, &repo).unwrap();
    let (code, v, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 0, "{err}\n{v}");
}

#[test]
fn a_run_whose_dump_fails_leaves_no_half_run() {
    let (sb, repo) = require!(setup());
    let (code, _, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 0, "{err}");
    let count = || {
        let out = restic(&sb, &repo, &["snapshots", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(), 2);
    // MariaDB is down: the files snapshot is taken while the dump fails, and then forgotten
    sb.lempctl().args(["sandbox", "stop"]).assert().success();
    let (code, v, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 1, "{err}\n{v}");
    assert!(
        err.contains("backing up the database") && err.contains("mariadb-dump"),
        "{err}"
    );
    assert_eq!(count(), 2, "no snapshot of the failed run is left");
}

/// Lock files (named by their id; a file being written has another name).
fn lock_files(repo: &Path) -> Vec<String> {
    std::fs::read_dir(repo.join("locks"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls (every 2 ms, up to 20 s) until the repository has a lock file.
fn wait_for_a_lock(repo: &Path) {
    let start = std::time::Instant::now();
    while lock_files(repo).is_empty() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "no lock appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

use std::os::unix::process::CommandExt;

fn signal(child: &std::process::Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

/// lempctl writes snapshots in-process and takes restic's own repository lock for it: it gives
/// way to restic's exclusive lockers, and they give way to it. Each side is caught holding its
/// lock by stopping the process (SIGSTOP) as soon as the lock file appears.
#[test]
fn the_repository_lock_is_restics_in_both_directions() {
    use nix::sys::signal::Signal;
    let (sb, repo) = require!(setup());
    // a site without a database: its run takes exactly one lock, lempctl's own
    sb.write_site(
        "files.yaml",
        "name: files.backup.test\nkind: static\nbackup: {}\n",
    );
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let (code, v, err) = sb.json(&["backup", "run", "files.backup.test"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let count = |sb: &Sandbox| {
        let out = restic(sb, &repo, &["--no-lock", "snapshots", "--json"]);
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
            .unwrap()
            .len()
    };
    let restic_cmd = |args: &[&str]| {
        let mut c = restic_command(&sb, &repo, "lempctl.password", args);
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            // a stopped process in a group that may be orphaned gets SIGHUP from the kernel
            .process_group(0);
        c
    };

    // restic's prune holds an exclusive lock: lempctl refuses, names the holder, writes nothing
    let before = count(&sb);
    let prune = restic_cmd(&["prune"]).spawn().unwrap();
    let prune_pid = prune.id();
    wait_for_a_lock(&repo);
    signal(&prune, Signal::SIGSTOP);
    let (code, v, _) = sb.json(&["backup", "run", "files.backup.test"]);
    let msg = v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    signal(&prune, Signal::SIGCONT);
    let out = prune.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(code, 1, "{v}");
    assert!(
        msg.contains("locked") && msg.contains(&format!("exclusive lock by PID {prune_pid}")),
        "{msg}"
    );
    assert_eq!(count(&sb), before, "nothing written");
    assert!(lock_files(&repo).is_empty(), "lempctl left no lock behind");

    // lempctl holds its lock: restic's prune refuses and names lempctl's process; `restic unlock`
    // (stale locks only) keeps it; at the end lempctl removes it
    let run = std::process::Command::new(bin())
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .arg("--root")
        .arg(sb.path("/"))
        .args(["backup", "run", "files.backup.test"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let run_pid = run.id();
    wait_for_a_lock(&repo);
    signal(&run, Signal::SIGSTOP);
    let refused = restic_cmd(&["prune"]).output().unwrap();
    let unlock = restic_cmd(&["unlock"]).output().unwrap();
    let still = lock_files(&repo);
    signal(&run, Signal::SIGCONT);
    let out = run.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{out:?}\n{refused:?}\n{unlock:?}\n{still:?}"
    );
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "prune ran under lempctl's lock");
    assert!(
        said.contains("already locked") && said.contains(&format!("PID {run_pid}")),
        "{said}"
    );
    assert!(unlock.status.success(), "{unlock:?}");
    assert_eq!(still.len(), 1, "a live lock is not stale");
    assert!(lock_files(&repo).is_empty(), "{:?}", lock_files(&repo));
    assert_eq!(count(&sb), before + 1);
    let check = restic(&sb, &repo, &["check"]);
    assert!(check.status.success(), "{check:?}");
}

/// Only a password lempctl generated itself gets the cheap key: one the admin wrote, however
/// random it looks, keeps restic's calibrated key.
#[test]
fn a_chosen_password_keeps_restics_calibrated_key() {
    require!(needs());
    let sb = Sandbox::with_db();
    let repo = configure(&sb);
    let pw = sb.path("/var/lib/lempctl/backup/lempctl.password");
    std::fs::create_dir_all(pw.parent().unwrap()).unwrap();
    std::fs::write(&pw, format!("{}\n", "A1b2C3d4".repeat(6))).unwrap();
    let (code, v, err) = sb.json(&["backup", "init"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let keys: Vec<PathBuf> = std::fs::read_dir(repo.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key: serde_json::Value = serde_json::from_slice(&std::fs::read(&keys[0]).unwrap()).unwrap();
    assert_ne!(key["N"].as_u64(), Some(4096), "{key}");
    assert_ne!(key["username"].as_str(), Some("lempctl"), "{key}");
}

/// An in-place restore asks first (`--yes` when not interactive); it keeps what the site gained
/// since the backup unless `--delete` (recovery from a hack) removes it.
#[test]
fn restore_in_place_asks_first_and_deletes_only_with_delete() {
    let (sb, _repo) = require!(setup());
    let (code, v, err) = sb.json(&["backup", "run", NAME]);
    assert_eq!(code, 0, "{err}\n{v}");
    let docroot = sb.path("/srv/www/shop.backup.test/htdocs");
    std::fs::write(docroot.join("index.php"), "<?php echo 'hacked';\n").unwrap();
    std::fs::write(docroot.join("backdoor.php"), "<?php eval($_GET['x']);\n").unwrap();
    std::fs::create_dir_all(docroot.join("uploads/2024/evil")).unwrap();
    std::fs::write(docroot.join("uploads/2024/evil/shell.php"), "<?php\n").unwrap();
    std::fs::write(docroot.join("uploads/2024/new.bin"), "kept").unwrap();

    let before = site_state(&sb);
    let (code, _, err) = sb.json(&["backup", "restore", NAME]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(before, site_state(&sb), "nothing changed without --yes");

    let (code, v, err) = sb.json(&["backup", "restore", NAME, "--files-only", "--yes"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["removed_since_backup"], 0, "{v}");
    assert_eq!(
        sb.get(NAME, "/").body.trim(),
        "shop-3",
        "the backup's file wins"
    );
    assert!(
        docroot.join("backdoor.php").exists(),
        "kept without --delete"
    );
    assert!(docroot.join("uploads/2024/evil/shell.php").exists());
    assert_eq!(
        std::fs::read_dir(docroot.join("uploads/2024"))
            .unwrap()
            .count(),
        52
    );

    let (code, v, err) = sb.json(&[
        "backup",
        "restore",
        NAME,
        "--files-only",
        "--delete",
        "--yes",
    ]);
    assert_eq!(code, 0, "{err}\n{v}");
    // the first run's restore + what the site gained: backdoor.php, evil/, new.bin
    assert_eq!(v["removed_since_backup"], 3, "{v}");
    assert!(!docroot.join("backdoor.php").exists());
    assert!(!docroot.join("uploads/2024/evil").exists());
    assert!(!docroot.join("uploads/2024/new.bin").exists());
    assert_eq!(
        std::fs::read_dir(docroot.join("uploads/2024"))
            .unwrap()
            .count(),
        50
    );
    assert_eq!(sb.get(NAME, "/").body.trim(), "shop-3");
}

/// lempctl.yaml's `backup.sites` schedules and retains every site that has no `backup` section
/// (a site opts out with `backup: { enabled: false }`); `backup prune` applies it; a site's final
/// backup is announced and marked `final` in `backup list`.
#[test]
fn a_host_wide_backup_default_covers_sites_without_their_own() {
    require!(needs());
    let sb = Sandbox::with_db();
    configure(&sb);
    let path = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!(
            "{text}  sites:\n    schedule: \"45 1 * * *\"\n    keep_last: 2\nscheduler: cron\n"
        ),
    )
    .unwrap();
    let sb = sb
        .site("a.yaml", "name: a.backup.test\nkind: static\n")
        .site(
            "b.yaml",
            "name: b.backup.test\nkind: static\nbackup:\n  enabled: false\n",
        )
        .site(
            "r.yaml",
            "name: r.backup.test\nkind: redirect\nredirect:\n  to: https://example.org\n",
        )
        .started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let cron = std::fs::read_to_string(sb.path("/etc/cron.d/lempctl")).unwrap();
    assert!(
        cron.contains("45 1 * * * root") && cron.contains("backup run --quiet a.backup.test"),
        "{cron}"
    );
    assert!(
        !cron.contains("b.backup.test") && !cron.contains("r.backup.test"),
        "{cron}"
    );
    let v = sb.show("a.backup.test");
    assert_eq!(v["backup_schedule"], "45 1 * * *", "{v}");

    for _ in 0..3 {
        let (code, v, err) = sb.json(&["backup", "run", "a.backup.test"]);
        assert_eq!(code, 0, "{err}\n{v}");
    }
    let (code, v, err) = sb.json(&["backup", "prune"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["sites"], serde_json::json!(["a.backup.test"]), "{v}");
    let (_, v, _) = sb.json(&["backup", "list", "a.backup.test"]);
    assert_eq!(
        v.as_array().unwrap().len(),
        2,
        "keep_last: 2 from the default: {v}"
    );

    let (code, v, err) = sb.json(&["site", "remove", "a.backup.test", "--purge", "--yes"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let run = v["final_backup"]["run"].as_str().unwrap().to_owned();
    assert!(
        v["warnings"].to_string().contains(&format!(
            "final backup of `a.backup.test` before the removal is run {run}"
        )),
        "{v}"
    );
    let (_, list, _) = sb.json(&["backup", "list", "a.backup.test"]);
    let last = list.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["run"].as_str(), last["final"].as_bool()),
        (Some(run.as_str()), Some(true)),
        "{list}"
    );
    let out = sb
        .lempctl()
        .args(["backup", "list", "a.backup.test"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("final (before removal)"));
}
