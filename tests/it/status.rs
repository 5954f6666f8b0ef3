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

/// How many alert mails for scheduled jobs the sink received.
fn job_mails(sink: &SmtpSink, job: &str) -> usize {
    sink.received()
        .matches(&format!("Subject: lempctl: job {job} failed on "))
        .count()
}

#[test]
fn status_probes_sites_reads_job_records_and_says_what_needs_attention() {
    require!(&["nginx", "php-fpm8.2", "useradd", "restic"]);
    let sb = Sandbox::new()
        .site("ok.st.test.yaml", "name: ok.st.test\nkind: php\n")
        .site("down.st.test.yaml", "name: down.st.test\nkind: php\n")
        .site(
            "off.st.test.yaml",
            "name: off.st.test\nkind: static\nenabled: false\n",
        )
        .site(
            "bk.st.test.yaml",
            "name: bk.st.test\nkind: static\nbackup:\n  schedule: \"30 2 * * *\"\n  keep_last: 2\n",
        )
        .started();
    let sink = require!(SmtpSink::start(&sb.path("/tmp")));
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(
        &g,
        format!(
            "{text}backup:\n  repository: /var/backups/lempctl\nmonitoring:\n  textfile_dir: /var/lib/node-exporter\nalerts:\n  smtp_host: 127.0.0.1\n  smtp_port: {}\n  from: lempctl@host.test\n  to: [ops@example.test]\n",
            sink.port
        ),
    )
    .unwrap();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");
    let cron = std::fs::read_to_string(sb.path("/etc/cron.d/lempctl")).unwrap();
    assert!(
        cron.contains("--job lempctl-backup@bk.st.test backup run --quiet bk.st.test"),
        "the scheduled command records its runs: {cron}"
    );
    std::fs::write(
        sb.path("/srv/www/down.st.test/htdocs/index.php"),
        "<?php http_response_code(500); echo 'broken';",
    )
    .unwrap();

    // a scheduled backup that fails (the repository path is a file restic cannot use): recorded,
    // mailed once (by the backup itself)
    let repo = sb.path("/var/backups/lempctl");
    std::fs::create_dir_all(repo.parent().unwrap()).unwrap();
    std::fs::write(&repo, "not a repository").unwrap();
    let out = sb
        .lempctl()
        .args([
            "--job",
            "lempctl-backup@bk.st.test",
            "backup",
            "run",
            "--quiet",
            "bk.st.test",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let (code, v, err) = sb.json(&["status"]);
    assert_eq!(code, 1, "{v} {err}");
    let nginx = &v["services"][0];
    assert_eq!(nginx["service"], "nginx", "{v}");
    assert!(
        nginx["pid"].as_u64().is_some() && nginx["last_reload"].as_i64().is_some(),
        "the pid, and when apply reloaded it: {v}"
    );
    let down = site(&v, "down.st.test");
    assert_eq!(down["state"], "down", "{v}");
    assert_eq!(down["http"]["status"], 500, "{v}");
    let ok = site(&v, "ok.st.test");
    assert_eq!(
        (&ok["state"], &ok["http"]["status"]),
        (&"ok".into(), &200.into()),
        "{v}"
    );
    assert!(
        site(&v, "off.st.test")["http"].is_null(),
        "a disabled site is not probed"
    );
    let bk = site(&v, "bk.st.test");
    assert_eq!(bk["state"], "backup failed", "{v}");
    let job = &bk["jobs"][0];
    assert_eq!(job["job"], "lempctl-backup@bk.st.test", "{v}");
    assert_eq!(job["result"], "failed", "{v}");
    assert!(job["error"].as_str().unwrap().contains("repository"), "{v}");
    assert!(job["next_run"].as_i64().unwrap() > chrono::Utc::now().timestamp());
    let prom =
        || std::fs::read_to_string(sb.path("/var/lib/node-exporter/lempctl_jobs.prom")).unwrap();
    assert!(
        prom().contains(
            "lempctl_job_last_run_success{job=\"lempctl-backup\",site=\"bk.st.test\"} 0\n"
        ),
        "{}",
        prom()
    );
    let mail = sink.received();
    assert_eq!(
        mail.matches("Subject: lempctl: backup of bk.st.test failed")
            .count(),
        1,
        "{mail}"
    );
    assert_eq!(
        job_mails(&sink, "lempctl-backup@bk.st.test"),
        0,
        "one mail per failure: {mail}"
    );

    // a job that does not mail on its own: the wrapper mails its first failure, not the next
    for _ in 0..2 {
        let out = sb
            .lempctl()
            .args([
                "--job",
                "lempctl-wpcron@ok.st.test",
                "wp",
                "cron",
                "ok.st.test",
            ])
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0));
    }
    assert_eq!(
        job_mails(&sink, "lempctl-wpcron@ok.st.test"),
        1,
        "{}",
        sink.received()
    );
    let bad = sb
        .lempctl()
        .args(["--job", "../x", "status"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));

    // fixed: the page answers, the repository exists, the job succeeds → exit 0
    std::fs::write(
        sb.path("/srv/www/down.st.test/htdocs/index.php"),
        "<?php echo 'ok';",
    )
    .unwrap();
    std::fs::remove_file(&repo).unwrap();
    let out = sb
        .lempctl()
        .args([
            "--job",
            "lempctl-backup@bk.st.test",
            "backup",
            "run",
            "--quiet",
            "bk.st.test",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = sb.tree();
    let (code, v, err) = sb.json(&["status"]);
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(
        site(&v, "bk.st.test")["jobs"][0]["result"],
        "success",
        "{v}"
    );
    assert_eq!(sb.tree(), before, "status writes nothing");
    assert!(
        prom().contains(
            "lempctl_job_last_run_success{job=\"lempctl-backup\",site=\"bk.st.test\"} 1\n"
        )
    );
    let out = sb
        .lempctl()
        .args(["status", "bk.st.test"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("job lempctl-backup@bk.st.test (30 2 * * *): success")
            && !text.contains("ok.st.test"),
        "one site in detail: {text}"
    );
    let (code, v, _) = sb.json(&["status", "--no-probe"]);
    assert_eq!(code, 0);
    assert!(site(&v, "ok.st.test")["http"].is_null(), "{v}");

    // a backup older than monitoring.backup_max_age_hours is stale
    let rec = sb.path("/var/lib/lempctl/backup/status.json");
    let mut s: serde_json::Value = serde_json::from_slice(&std::fs::read(&rec).unwrap()).unwrap();
    let old = chrono::Utc::now().timestamp() - 3 * 3600;
    s["bk.st.test"]["last_success"] = old.into();
    s["bk.st.test"]["last_run"] = old.into();
    std::fs::write(&rec, serde_json::to_vec(&s).unwrap()).unwrap();
    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(
        &g,
        text.replace("monitoring:\n", "monitoring:\n  backup_max_age_hours: 2\n"),
    )
    .unwrap();
    let (code, v, _) = sb.json(&["status"]);
    assert_eq!(
        (code, &site(&v, "bk.st.test")["state"]),
        (1, &"backup stale".into()),
        "{v}"
    );
}

/// A self-signed certificate for `name` valid `days` days, written into the sandbox.
fn certificate(sb: &Sandbox, name: &str, days: u32) {
    let dir = sb.path(&format!("/etc/ssl/{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-days", &days.to_string(), "-nodes", "-subj"])
        .arg(format!("/CN={name}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{name}"))
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_certificate_near_expiry_needs_attention_and_status_textfile_counts_it() {
    require!(&["nginx", "openssl", "useradd"]);
    let name = "tls.st.test";
    let sb = Sandbox::new().site(
        "tls.yaml",
        &format!("name: {name}\nkind: static\ntls:\n  certificate: /etc/ssl/{name}/cert.pem\n  key: /etc/ssl/{name}/key.pem\n"),
    );
    certificate(&sb, name, 5);
    let sb = sb.started();
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(
        &g,
        format!("{text}monitoring:\n  textfile_dir: /var/lib/node-exporter\n"),
    )
    .unwrap();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");
    let (code, v, err) = sb.json(&["status", "--textfile"]);
    assert_eq!(code, 1, "{v} {err}");
    let s = site(&v, name);
    assert_eq!(s["state"], "cert expiring", "{v}");
    assert!(s["tls_days_left"].as_i64().unwrap() <= 5, "{v}");
    let prom =
        || std::fs::read_to_string(sb.path("/var/lib/node-exporter/lempctl_status.prom")).unwrap();
    assert!(
        prom().contains("lempctl_sites{state=\"cert expiring\"} 1\n")
            && prom().contains("lempctl_status_ok 0\n"),
        "{}",
        prom()
    );
    // renewed (by hand here): fine again, and the textfile says so
    certificate(&sb, name, 90);
    let (code, v, err) = sb.json(&["status", "--textfile"]);
    assert_eq!(
        (code, &site(&v, name)["state"]),
        (0, &"ok".into()),
        "{v} {err}"
    );
    assert!(
        prom().contains("lempctl_sites{state=\"ok\"} 1\n"),
        "{}",
        prom()
    );
    let out = sb
        .lempctl()
        .args(["status", "--textfile", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}
