//! `lempctl s3 sync`: the built binary against a real moto S3 server started per test; the bucket
//! is checked from outside with the AWS SDK and moto's request log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::Client;

use crate::support::*;

const SITE: &str = "s3.example.test";

/// A sandbox whose global config names a 0600 credentials file, a moto server, a client.
struct Env {
    moto: Moto,
    sb: Sandbox,
    rt: tokio::runtime::Runtime,
    client: Client,
}

fn env() -> Need<Env> {
    let moto = start_moto()?;
    let sb = Sandbox::new();
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(
        &g,
        format!("{text}s3:\n  credentials_file: /etc/lempctl/s3-credentials\n"),
    )
    .unwrap();
    write_creds(&sb, 0o600);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(async {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(moto.endpoint())
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "t",
            ))
            .load()
            .await;
        Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        )
    });
    Ok(Env {
        moto,
        sb,
        rt,
        client,
    })
}

fn write_creds(sb: &Sandbox, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let p = sb.path("/etc/lempctl/s3-credentials");
    std::fs::write(
        &p,
        "[default]\naws_access_key_id = test\naws_secret_access_key = test\n",
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Env {
    fn make_bucket(&self, b: &str) {
        self.rt
            .block_on(self.client.create_bucket().bucket(b).send())
            .unwrap();
    }

    fn put(&self, b: &str, key: &str, body: &[u8]) {
        self.rt
            .block_on(
                self.client
                    .put_object()
                    .bucket(b)
                    .key(key)
                    .body(body.to_vec().into())
                    .send(),
            )
            .unwrap();
    }

    /// key → bytes of every object in the bucket.
    fn contents(&self, b: &str) -> BTreeMap<String, Vec<u8>> {
        self.rt.block_on(async {
            let mut out = BTreeMap::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(b)
                .into_paginator()
                .send();
            while let Some(p) = pages.next().await {
                for o in p.unwrap().contents() {
                    let k = o.key().unwrap().to_string();
                    let body = self
                        .client
                        .get_object()
                        .bucket(b)
                        .key(&k)
                        .send()
                        .await
                        .unwrap()
                        .body
                        .collect()
                        .await
                        .unwrap();
                    out.insert(k, body.into_bytes().to_vec());
                }
            }
            out
        })
    }

    /// (Content-Type, Cache-Control, ETag) of one object.
    fn head(&self, b: &str, key: &str) -> (String, Option<String>, String) {
        let h = self
            .rt
            .block_on(self.client.head_object().bucket(b).key(key).send())
            .unwrap_or_else(|e| panic!("HEAD {key}: {e:?}"));
        (
            h.content_type().unwrap_or_default().to_owned(),
            h.cache_control().map(str::to_owned),
            h.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
        )
    }

    /// The site file with an `s3` section for `bucket` (plus `extra` lines inside `s3:`).
    fn site(&self, bucket: &str, extra: &str) {
        self.sb.write_site(
            "s3.yaml",
            &format!(
                "name: {SITE}\nkind: static\ns3:\n  bucket: {bucket}\n  endpoint: {}\n  path_style: true\n{extra}",
                self.moto.endpoint()
            ),
        );
    }

    /// The site's default source: `<site_dir>/static`.
    fn src(&self) -> PathBuf {
        self.sb.path(&format!("/srv/www/{SITE}/static"))
    }

    /// `s3 sync SITE --json` plus args: (exit code, the `sync` object, stderr).
    fn sync(&self, extra: &[&str]) -> (i32, serde_json::Value, String) {
        let mut args = vec!["s3", "sync", SITE];
        args.extend_from_slice(extra);
        let (code, v, err) = self.sb.json(&args);
        assert!(
            v.get("changed").is_some() && v.get("warnings").is_some(),
            "{v}"
        );
        (code, v, err)
    }
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// rel → bytes of every file under `root`.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(root).unwrap().to_str().unwrap();
            out.insert(rel.to_owned(), std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn with_prefix(t: BTreeMap<String, Vec<u8>>, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    t.into_iter()
        .map(|(k, v)| (format!("{prefix}{k}"), v))
        .collect()
}

fn make_site(r: &Path) {
    write(r, "index.html", b"<h1>home</h1>");
    write(r, "blog/post-1/index.html", b"<p>post 1</p>");
    write(r, "assets/app.js", b"console.log(1)");
    write(r, "assets/site.css", b"body{}");
    write(r, "assets/logo.png", &[0x89, b'P', b'N', b'G', 0, 1, 2]);
    write(r, "feed.xml", b"<rss/>");
    write(r, "robots.txt", b"User-agent: *");
    write(r, "data/empty.json", b"");
}

fn add_unpublishable(r: &Path) {
    write(r, ".git/HEAD", b"ref: refs/heads/main");
    write(r, ".github/workflows/ci.yml", b"on: push");
    write(r, "wp-admin/index.php", b"<?php");
    write(r, "wp-login.php", b"<?php");
    write(r, "xmlrpc.php", b"<?php");
    write(r, "wp-content/uploads/2024/01/shell.php", b"<?php evil");
    write(r, "drafts/secret.html", b"draft");
}

const CACHE_RULES: &str = "  cache_control:\n    - glob: \"assets/**\"\n      value: \"public, max-age=31536000, immutable\"\n    - glob: \"*.html\"\n      value: \"public, max-age=300\"\n";

fn n(v: &serde_json::Value, field: &str) -> u64 {
    v["sync"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
}

#[test]
fn first_sync_uploads_everything_with_metadata() {
    let e = require!(env());
    e.make_bucket("first");
    e.site(
        "first",
        &format!("  prefix: /www/\n  excludes: [\"drafts/\"]\n{CACHE_RULES}"),
    );
    make_site(&e.src());
    let expected = with_prefix(tree(&e.src()), "www/");
    add_unpublishable(&e.src());

    let (code, v, err) = e.sync(&[]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["changed"], true);
    assert_eq!(v["error"], serde_json::Value::Null);
    assert_eq!(v["sync"]["prefix"], "www/");
    assert_eq!(v["sync"]["site"], SITE);
    assert_eq!(
        e.contents("first"),
        expected,
        "the bucket mirrors the tree byte for byte, without excluded paths"
    );
    assert_eq!((n(&v, "uploaded"), n(&v, "deleted")), (8, 0));
    assert_eq!(v["sync"]["requests"]["put"], 8);
    assert_eq!(v["sync"]["requests"]["list"], 1);
    assert_eq!(v["sync"]["requests"]["head"], 0);

    for (key, ct, cc) in [
        (
            "www/index.html",
            "text/html; charset=utf-8",
            Some("public, max-age=300"),
        ),
        (
            "www/blog/post-1/index.html",
            "text/html; charset=utf-8",
            Some("public, max-age=300"),
        ),
        (
            "www/assets/site.css",
            "text/css; charset=utf-8",
            Some("public, max-age=31536000, immutable"),
        ),
        (
            "www/assets/logo.png",
            "image/png",
            Some("public, max-age=31536000, immutable"),
        ),
        ("www/robots.txt", "text/plain; charset=utf-8", None),
        (
            "www/data/empty.json",
            "application/json; charset=utf-8",
            None,
        ),
    ] {
        let (got_ct, got_cc, _) = e.head("first", key);
        assert_eq!(got_ct, ct, "{key}");
        assert_eq!(got_cc.as_deref(), cc, "{key}");
    }
    assert!(
        e.head("first", "www/assets/app.js")
            .0
            .ends_with("javascript; charset=utf-8")
    );
}

#[test]
fn resync_noop_touch_and_modify_send_only_changes() {
    let e = require!(env());
    e.make_bucket("resync");
    e.site("resync", CACHE_RULES);
    let r = e.src();
    make_site(&r);
    let (code, _, err) = e.sync(&[]);
    assert_eq!(code, 0, "{err}");

    // nothing changed: zero PUTs, counted by lempctl and by the server
    let off = e.moto.log_len();
    let (code, v, err) = e.sync(&[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["changed"], false);
    assert_eq!(
        (n(&v, "uploaded"), n(&v, "deleted"), n(&v, "unchanged")),
        (0, 0, 8)
    );
    assert_eq!(e.moto.puts(off), 0, "the server saw PUTs in a no-op sync");
    assert_eq!(e.moto.logged("\"GET /", off), 1, "exactly one LIST");

    // every mtime bumped, content unchanged: zero PUTs
    let later = filetime::FileTime::from_unix_time(2_000_000_000, 0);
    for rel in tree(&r).keys() {
        filetime::set_file_mtime(r.join(rel), later).unwrap();
    }
    let off = e.moto.log_len();
    let (code, v, _) = e.sync(&[]);
    assert_eq!((code, n(&v, "uploaded")), (0, 0));
    assert_eq!(e.moto.puts(off), 0, "the server saw PUTs after a touch");

    // modify 2 (one same size), add 1, delete 1
    write(&r, "index.html", b"<h1>HOME</h1>");
    write(&r, "assets/app.js", b"console.log(2); // longer");
    write(&r, "new/page.html", b"new");
    std::fs::remove_file(r.join("robots.txt")).unwrap();

    // --dry-run: the plan with sizes, nothing written
    let off = e.moto.log_len();
    let (code, v, _) = e.sync(&["--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(e.moto.puts(off), 0, "a dry run wrote nothing");
    assert_eq!(v["changed"], true);
    let mut planned: Vec<(String, u64, String)> = v["sync"]["planned_uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["key"].as_str().unwrap().to_owned(),
                u["size"].as_u64().unwrap(),
                u["reason"].as_str().unwrap().to_lowercase(),
            )
        })
        .collect();
    planned.sort();
    assert_eq!(
        planned,
        vec![
            ("assets/app.js".into(), 25, "changed".into()),
            ("index.html".into(), 13, "changed".into()),
            ("new/page.html".into(), 3, "new".into())
        ]
    );
    assert_eq!(
        v["sync"]["planned_deletes"],
        serde_json::json!(["robots.txt"])
    );
    assert_eq!(v["sync"]["planned_delete_sizes"], serde_json::json!([13]));
    let out =
        e.sb.lempctl()
            .args(["s3", "sync", SITE, "--dry-run"])
            .output()
            .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Would upload new/page.html (3 B, new)"),
        "{text}"
    );
    assert!(text.contains("Would delete robots.txt (13 B)"), "{text}");
    assert!(text.contains("nothing was changed (--dry-run)"), "{text}");

    let off = e.moto.log_len();
    let (code, v, err) = e.sync(&[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (n(&v, "uploaded"), n(&v, "deleted"), n(&v, "unchanged")),
        (3, 1, 5)
    );
    assert_eq!(e.moto.logged("\"PUT /", off), 3);
    assert_eq!(e.moto.logged("?delete", off), 1, "one DeleteObjects batch");
    assert_eq!(e.contents("resync"), tree(&r));
}

#[test]
fn multipart_round_trip_and_no_reupload() {
    let e = require!(env());
    e.make_bucket("mpu");
    e.site("mpu", "  prefix: p\n");
    let r = e.src();
    // over the 64 MiB threshold: 9 parts of 8 MiB
    let big: Vec<u8> = (0..65 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write(&r, "media/video.mp4", &big);
    write(&r, "index.html", b"hi");
    let (code, v, err) = e.sync(&[]);
    assert_eq!(code, 0, "{err}");
    let q = &v["sync"]["requests"];
    assert_eq!(
        (
            &q["mpu_create"],
            &q["mpu_part"],
            &q["mpu_complete"],
            &q["put"]
        ),
        (&1.into(), &9.into(), &1.into(), &1.into())
    );
    assert_eq!(e.contents("mpu"), with_prefix(tree(&r), "p/"));
    let (ct, _, etag) = e.head("mpu", "p/media/video.mp4");
    assert!(etag.ends_with("-9"), "{etag}");
    assert_eq!(ct, "video/mp4");

    let off = e.moto.log_len();
    let (code, v, _) = e.sync(&[]);
    assert_eq!((code, n(&v, "uploaded")), (0, 0));
    assert_eq!(
        v["sync"]["requests"]["head"], 0,
        "multipart ETag matched locally"
    );
    assert_eq!(e.moto.puts(off), 0);
}

#[test]
fn refusals_leave_the_bucket_untouched_unless_forced() {
    let e = require!(env());
    e.make_bucket("refuse");
    e.site("refuse", "");
    let r = e.src();

    // missing source: refused before anything is sent
    let (code, v, err) = e.sync(&[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(v["error"]["exit_code"], 1);

    make_site(&r);
    assert_eq!(e.sync(&[]).0, 0);
    let before = e.contents("refuse");
    assert_eq!(before.len(), 8);

    // empty source (only excluded files)
    let saved = tempfile::tempdir().unwrap();
    std::fs::rename(&r, saved.path().join("static")).unwrap();
    write(&r, ".git/HEAD", b"x");
    let (code, _, err) = e.sync(&[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("refused") && err.contains("no files"), "{err}");
    assert_eq!(e.contents("refuse"), before);
    std::fs::remove_dir_all(&r).unwrap();
    std::fs::rename(saved.path().join("static"), &r).unwrap();

    // deleting 6 of 8 (75 % > 50 %)
    for rel in [
        "index.html",
        "feed.xml",
        "robots.txt",
        "assets/app.js",
        "assets/site.css",
        "assets/logo.png",
    ] {
        std::fs::remove_file(r.join(rel)).unwrap();
    }
    let off = e.moto.log_len();
    let (code, _, err) = e.sync(&[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("6 of 8"), "{err}");
    assert_eq!(e.contents("refuse"), before);
    assert_eq!(e.moto.logged("?delete", off), 0);

    // a higher limit in the site file allows it
    e.site("refuse", "  max_delete_share: 0.8\n");
    let (code, v, err) = e.sync(&["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["sync"]["planned_deletes"].as_array().unwrap().len(), 6);
    e.site("refuse", "");

    let (code, v, err) = e.sync(&["--force"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&v, "deleted"), 6);
    assert_eq!(e.contents("refuse"), tree(&r));

    // forced empty source mirrors emptiness
    std::fs::remove_dir_all(&r).unwrap();
    std::fs::create_dir_all(&r).unwrap();
    let (code, v, err) = e.sync(&["--force"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&v, "deleted"), 2);
    assert!(e.contents("refuse").is_empty());
}

#[test]
fn missing_bucket_server_down_and_bad_credentials_are_clear_errors() {
    let mut e = require!(env());
    e.make_bucket("exists");
    make_site(&e.src());

    e.site("no-such-bucket", "");
    let (code, v, err) = e.sync(&[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("bucket `no-such-bucket` does not exist"),
        "{err}"
    );
    assert_eq!(v["error"]["kind"], "failure");

    // a credentials file others can read is refused, never used
    e.site("exists", "");
    write_creds(&e.sb, 0o644);
    let (code, _, err) = e.sync(&[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    write_creds(&e.sb, 0o600);

    let (code, _, err) = e.sync(&[]);
    assert_eq!(code, 0, "{err}");
    std::fs::remove_file(e.src().join("robots.txt")).unwrap();
    e.moto.stop();
    let (code, _, err) = e.sync(&[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot reach endpoint http://127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("nothing was deleted"), "{err}");
    assert_eq!(e.moto.logged("?delete", 0), 0);
}

#[test]
fn excludes_apply_on_both_sides() {
    let e = require!(env());
    e.make_bucket("excl");
    for k in ["wp-admin/old.php", ".git/config", "drafts/old.html"] {
        e.put("excl", k, b"old");
    }
    e.site("excl", "  excludes: [\"drafts/\"]\n");
    make_site(&e.src());
    add_unpublishable(&e.src());
    let (code, v, err) = e.sync(&[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (
            n(&v, "uploaded"),
            n(&v, "deleted"),
            n(&v, "excluded_remote")
        ),
        (8, 0, 3)
    );
    let keys: Vec<String> = e.contents("excl").into_keys().collect();
    assert!(keys.contains(&"wp-admin/old.php".to_owned()), "{keys:?}");
    assert!(keys.contains(&"drafts/old.html".to_owned()), "{keys:?}");
    assert!(
        !keys.iter().any(|k| k.contains("shell.php")
            || k == "wp-login.php"
            || k.starts_with(".github")
            || k == "drafts/secret.html"),
        "{keys:?}"
    );

    e.site(
        "excl",
        "  excludes: [\"drafts/\"]\n  delete_excluded: true\n",
    );
    let (code, v, err) = e.sync(&[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!((n(&v, "uploaded"), n(&v, "deleted")), (0, 3));
    let keys: Vec<String> = e.contents("excl").into_keys().collect();
    assert_eq!(keys.len(), 8, "{keys:?}");
}

#[test]
fn adhoc_form_all_and_lock() {
    require!(&["flock"]);
    let e = require!(env());
    e.make_bucket("adhoc");
    let dir = tempfile::tempdir().unwrap();
    make_site(dir.path());
    let url = "s3://adhoc/one-off";
    let src = dir.path().to_str().unwrap();
    let ep = e.moto.endpoint();
    let (code, v, err) = e.sb.json(&[
        "s3",
        "sync",
        "--source",
        src,
        url,
        "--endpoint",
        &ep,
        "--path-style",
    ]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["sync"]["label"], "s3://adhoc/one-off/");
    assert_eq!(
        e.contents("adhoc"),
        with_prefix(tree(dir.path()), "one-off/")
    );

    // invalid input: exit 2
    let (code, _, err) =
        e.sb.json(&["s3", "sync", "--source", src, "s3://Bad_Bucket"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = e.sb.json(&["s3", "sync", "no-such.example.test"]);
    assert_eq!(code, 2, "{err}");

    // --all: every site with an s3 section
    e.site("adhoc", "  prefix: site\n");
    make_site(&e.src());
    e.sb.write_site("plain.yaml", "name: plain.example.test\nkind: static\n");
    let (code, v, err) = e.sb.json(&["s3", "sync", "--all"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let syncs = v["syncs"].as_array().unwrap();
    assert_eq!(syncs.len(), 1, "{v}");
    assert_eq!(syncs[0]["site"], SITE);
    assert_eq!(syncs[0]["uploaded"], 8);

    // one sync per site at a time
    let lock = e.sb.path(&format!("/var/lib/lempctl/s3sync-{SITE}.lock"));
    assert!(lock.is_file());
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (code, _, err) = e.sync(&["--wait", "0"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("holds the lock"), "{err}");
}

#[test]
fn schedule_produces_a_timer_or_a_cron_line() {
    require!(&["systemd-analyze"]);
    let sb = Sandbox::new();
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let base = std::fs::read_to_string(&g).unwrap();
    std::fs::write(&g, format!("{base}scheduler: systemd\n")).unwrap();
    sb.write_site(
        "s3.yaml",
        &format!(
            "name: {SITE}\nkind: static\ns3:\n  bucket: sched\n  schedule: \"*/15 * * * *\"\n"
        ),
    );
    let (code, v, err) = sb.json(&["apply", "--no-health-check"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let dir = sb.path("/etc/systemd/system");
    let timer = format!("lempctl-s3sync@{SITE}.timer");
    let drop_in = std::fs::read_to_string(dir.join(format!("{timer}.d/schedule.conf"))).unwrap();
    assert!(drop_in.contains("OnCalendar=*-*-* *:00/15:00"), "{drop_in}");
    let link = std::fs::read_link(dir.join("timers.target.wants").join(&timer)).unwrap();
    assert_eq!(link, Path::new("/etc/systemd/system/lempctl-s3sync@.timer"));
    let service = std::fs::read_to_string(dir.join("lempctl-s3sync@.service")).unwrap();
    assert!(service.contains(" s3 sync %i"), "{service}");
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", &timer, &timer.replace(".timer", ".service")])
        .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // cron
    std::fs::write(&g, format!("{base}scheduler: cron\n")).unwrap();
    let (code, v, err) = sb.json(&["apply", "--no-health-check"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let cron = std::fs::read_to_string(sb.path("/etc/cron.d/lempctl")).unwrap();
    let line = cron
        .lines()
        .find(|l| l.contains("s3 sync"))
        .unwrap_or_else(|| panic!("{cron}"));
    assert!(line.starts_with("*/15 * * * * root "), "{line}");
    assert!(line.ends_with(&format!(" s3 sync {SITE}")), "{line}");
    assert!(!dir.join(&timer).exists());
}

#[test]
fn bad_site_file_values_name_the_field() {
    let sb = Sandbox::new();
    for (s3, field) in [
        ("  bucket: Bad_Bucket\n", "s3.bucket"),
        ("  bucket: ab\n", "s3.bucket"),
        ("  bucket: ok-bucket\n  endpoint: ftp://x\n", "s3.endpoint"),
        ("  bucket: ok-bucket\n  region: \"EU West\"\n", "s3.region"),
        ("  bucket: ok-bucket\n  source: ../other\n", "s3.source"),
        (
            "  bucket: ok-bucket\n  max_delete_share: 1.5\n",
            "s3.max_delete_share",
        ),
        ("  bucket: ok-bucket\n  concurrency: 0\n", "s3.concurrency"),
        (
            "  bucket: ok-bucket\n  schedule: \"61 * * * *\"\n",
            "s3.schedule",
        ),
        (
            "  bucket: ok-bucket\n  excludes: [\"a[\"]\n",
            "s3.excludes[0]",
        ),
        (
            "  bucket: ok-bucket\n  cache_control:\n    - glob: \"*.html\"\n      value: \"a\\nb\"\n",
            "s3.cache_control[0].value",
        ),
        ("  bucket: ok-bucket\n  secret_key: x\n", "secret_key"),
    ] {
        sb.write_site("s3.yaml", &format!("name: {SITE}\nkind: static\ns3:\n{s3}"));
        let (code, v, err) = sb.json(&["s3", "sync", SITE]);
        assert_eq!(code, 2, "{s3}: {err}\n{v}");
        assert!(err.contains("s3.yaml:"), "{s3}: {err}");
        assert!(err.contains(field), "{s3}: expected `{field}` in: {err}");
    }
    // a credentials file path must be absolute
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let base = std::fs::read_to_string(&g).unwrap();
    std::fs::write(
        &g,
        format!("{base}s3:\n  credentials_file: relative/creds\n"),
    )
    .unwrap();
    sb.write_site(
        "s3.yaml",
        &format!("name: {SITE}\nkind: static\ns3:\n  bucket: ok-bucket\n"),
    );
    let (code, _, err) = sb.json(&["s3", "sync", SITE]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("s3.credentials_file"), "{err}");
}

/// A link in the published tree (to a root-only file, or to a directory outside it) is never
/// followed: its target is not uploaded and is left as it was.
#[test]
fn links_in_the_source_are_not_followed() {
    let e = require!(env());
    e.make_bucket("links");
    e.site("links", "");
    make_site(&e.src());
    let expected = tree(&e.src());
    let secret = e.sb.path("/etc/secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    let secret_dir = e.sb.path("/etc/secret-dir");
    std::fs::create_dir_all(&secret_dir).unwrap();
    std::fs::write(secret_dir.join("key.pem"), "private key").unwrap();
    std::os::unix::fs::symlink(&secret, e.src().join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(&secret_dir, e.src().join("leakdir")).unwrap();

    let (code, v, err) = e.sync(&[]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(
        e.contents("links"),
        expected,
        "no link target was published"
    );
    let all: Vec<u8> = e.contents("links").into_values().flatten().collect();
    assert!(!String::from_utf8_lossy(&all).contains("secret"));
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "top secret");
}

/// The scheduled `s3 sync SITE` goes on while another site's file is invalid (issue #20), naming
/// that file in a warning; `s3 sync --all` syncs the sites that load.
#[test]
fn sync_goes_on_while_another_site_file_is_invalid() {
    let e = require!(env());
    e.make_bucket("other-broken");
    e.site("other-broken", "");
    make_site(&e.src());
    e.sb.write_site(
        "broken.example.test.yaml",
        "name: broken.example.test\nkind: statik\n",
    );
    let (code, v, err) = e.sync(&[]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(n(&v, "uploaded") > 0, "{v}");
    assert!(
        v["warnings"]
            .to_string()
            .contains("broken.example.test.yaml:2:7"),
        "{v}"
    );
    assert!(err.contains("broken.example.test.yaml:2:7"), "{err}");
    let (code, v, err) = e.sb.json(&["s3", "sync", "--all"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let (code, v, _) = e.sb.json(&["s3", "sync", "broken.example.test"]);
    assert_eq!(code, 2, "{v}");
}
