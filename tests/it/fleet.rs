//! The fleet (`scripts/fleet`, `ansible/playbooks/fleet.yml`, `move-site.yml`, docs/fleet.md):
//! three web hosts, a MariaDB primary and replica with TLS, moto as S3 and an nginx edge, each
//! in network namespaces this test makes, converged by the real ansible-core. Checked from
//! outside: HTTP through the edge from a client namespace, SQL on the database hosts, the
//! bucket's objects, the repository's snapshots, the playbook's recap.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::*;

const EDGE: &str = "10.77.0.30:8080";
const VENV: &str = "/opt/lempctl-venv";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fleet")
}

/// A fleet in a temporary directory, torn down (processes and namespaces) on drop.
struct Fleet {
    dir: tempfile::TempDir,
}

impl Fleet {
    fn up() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let f = Fleet { dir };
        let out = f
            .cmd(&["up"])
            .args(["--lempctl"])
            .arg(bin())
            .output()
            .unwrap();
        assert!(out.status.success(), "fleet up: {}", text(&out.stderr));
        f
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(script());
        c.arg(args[0]).arg(self.dir()).args(&args[1..]);
        c.env(
            "PATH",
            format!("{VENV}/bin:{}", std::env::var("PATH").unwrap()),
        );
        c
    }

    /// `scripts/fleet run HOST ARGS…`, its output.
    fn run(&self, host: &str, args: &[&str]) -> Output {
        self.cmd(&["run", host])
            .args(args)
            .envs([
                ("AWS_ACCESS_KEY_ID", "fleet"),
                ("AWS_SECRET_ACCESS_KEY", "fleet"),
            ])
            .output()
            .unwrap()
    }

    fn sql(&self, db: &str, query: &str) -> String {
        let out = self.cmd(&["sql", db, query]).output().unwrap();
        assert!(out.status.success(), "{query}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// GET through the edge from the client host: (status, body).
    fn get(&self, host: &str, path: &str) -> (u16, String) {
        let out = self.run(
            "client",
            &[
                "curl",
                "-s",
                "-m",
                "20",
                "-w",
                "\n%{http_code}",
                "-H",
                &format!("Host: {host}:8080"),
                &format!("http://{EDGE}{path}"),
            ],
        );
        let body = text(&out.stdout);
        let (body, code) = body.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }

    /// A playbook run: its exit code, the recap per host (changed, failed) and its output.
    fn playbook(&self, sub: &[&str], extra: &[&str]) -> Playbook {
        let mut c = self.cmd(sub);
        c.args([
            "-e",
            &format!("@{}", self.dir().join("sites.yml").display()),
        ]);
        for e in extra {
            c.args(["-e", e]);
        }
        let t = Instant::now();
        let out = c.output().unwrap();
        let stdout = text(&out.stdout);
        let mut recap = BTreeMap::new();
        for line in stdout.lines().skip_while(|l| !l.starts_with("PLAY RECAP")) {
            let Some((host, rest)) = line.split_once(" : ") else {
                continue;
            };
            let num = |k: &str| -> u32 {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .and_then(|v| v.parse().ok())
                    .unwrap()
            };
            recap.insert(host.trim().to_owned(), (num("changed="), num("failed=")));
        }
        Playbook {
            ok: out.status.success(),
            recap,
            output: format!("{stdout}{}", text(&out.stderr)),
            seconds: t.elapsed().as_secs_f64(),
        }
    }

    fn write_sites(&self, sites: &serde_json::Value) {
        std::fs::write(
            self.dir().join("sites.yml"),
            serde_json::to_string_pretty(&serde_json::json!({ "fleet_sites": sites })).unwrap(),
        )
        .unwrap();
    }

    /// The root of web host `host`.
    fn root(&self, host: &str) -> PathBuf {
        self.dir().join(host).join("root")
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.cmd(&["down"]).status();
    }
}

struct Playbook {
    ok: bool,
    recap: BTreeMap<String, (u32, u32)>,
    output: String,
    seconds: f64,
}

impl Playbook {
    fn changed(&self, host: &str) -> u32 {
        self.recap.get(host).map(|r| r.0).unwrap_or(u32::MAX)
    }
    fn failed(&self, host: &str) -> u32 {
        self.recap.get(host).map(|r| r.1).unwrap_or(u32::MAX)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Two sites per host: WordPress on the shared database, a static site exported to S3.
fn sites(hosts: &[(&str, &str)]) -> serde_json::Value {
    let mut v = Vec::new();
    for (i, (wp_host, st_host)) in hosts.iter().enumerate() {
        let i = i + 1;
        v.push(serde_json::json!({"host": wp_host, "site": {
            "name": format!("wp{i}.fleet.test"), "kind": "wordpress",
            "config": {"wordpress": {"title": format!("Fleet blog {i}"), "admin_email": "ops@fleet.test"}}}}));
        v.push(serde_json::json!({"host": st_host, "site": {
            "name": format!("static{i}.fleet.test"), "kind": "static",
            "config": {"s3": {"bucket": "fleet-static", "prefix": format!("static{i}"),
                "endpoint": "http://10.77.0.20:5000", "path_style": true, "source": "htdocs"}}}}));
    }
    serde_json::Value::Array(v)
}

/// A page in a WordPress site that writes row `n` through WordPress's own database connection
/// and says which host served it.
const WRITER: &str = r#"<?php
require __DIR__ . '/wp-load.php';
global $wpdb;
$wpdb->query('CREATE TABLE IF NOT EXISTS fleet_writes (n INT PRIMARY KEY, host VARCHAR(64))');
$ok = $wpdb->insert('fleet_writes', ['n' => intval($_GET['n'] ?? 0), 'host' => gethostname()]);
echo ($ok ? 'ok ' : 'fail ') . gethostname();
"#;

fn needs() -> Need<()> {
    programs(&[
        "ip",
        "nsenter",
        "unshare",
        "nginx",
        "php-fpm8.2",
        "mariadbd",
        "mariadb-install-db",
        "openssl",
        "curl",
        "restic",
        "ansible-playbook",
        "moto_server",
    ])?;
    wordpress()
}

/// The whole fleet story in one run (bringing a fleet up and converging it is the expensive
/// part): converge, converge again, move a site under load, promote the replica, lose a host.
#[test]
fn a_fleet_converges_moves_a_site_without_a_failed_request_fails_over_and_survives_a_lost_host() {
    require!(needs());
    let _turn = machine_heavy();
    let f = Fleet::up();
    let wp1 = "wp1.fleet.test";
    f.write_sites(&sites(&[
        ("web1", "web1"),
        ("web2", "web2"),
        ("web3", "web3"),
    ]));

    // 1. one playbook converges three hosts; every site answers through the edge
    let first = f.playbook(&["converge"], &[]);
    assert!(first.ok, "{}", first.output);
    eprintln!("fleet: first converge {:.1} s", first.seconds);
    for i in 1..=3 {
        let host = format!("web{i}");
        assert!(first.changed(&host) > 0, "{}", first.output);
        std::fs::write(
            f.root(&host)
                .join(format!("srv/www/static{i}.fleet.test/htdocs/index.html")),
            format!("static {i}\n"),
        )
        .unwrap();
        let (code, body) = f.get(&format!("wp{i}.fleet.test"), "/");
        assert_eq!(code, 200, "{body}");
        assert!(body.contains(&format!("Fleet blog {i}")), "{body}");
    }
    // the static pages just written are exported by the next run; nothing else changes
    let second = f.playbook(&["converge"], &[]);
    assert!(second.ok, "{}", second.output);
    for i in 1..=3 {
        let (code, body) = f.get(&format!("static{i}.fleet.test"), "/");
        assert_eq!(
            (code, body.as_str()),
            (200, format!("static {i}\n").as_str())
        );
        let listing = f.run(
            "client",
            &[
                "curl",
                "-s",
                &format!("http://10.77.0.20:5000/fleet-static?list-type=2&prefix=static{i}/"),
            ],
        );
        assert!(
            text(&listing.stdout).contains(&format!("<Key>static{i}/index.html</Key>")),
            "{}",
            text(&listing.stdout)
        );
    }
    let third = f.playbook(&["converge"], &[]);
    assert!(third.ok, "{}", third.output);
    for h in ["web1", "web2", "web3", "edge1"] {
        assert_eq!(
            third.changed(h),
            0,
            "{h} changed on the third run:\n{}",
            third.output
        );
    }
    eprintln!("fleet: converge with nothing to do {:.1} s", third.seconds);

    // each site's account: its own host's address only, TLS required; plain TCP refused
    let accounts = f.sql(
        "db1",
        "SELECT user, host, ssl_type FROM mysql.user WHERE user LIKE 'wp%' ORDER BY user",
    );
    let rows: Vec<Vec<&str>> = accounts.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 3, "{accounts}");
    for (i, r) in rows.iter().enumerate() {
        assert!(
            r[0].starts_with(&format!("wp{}_fleet_test", i + 1)),
            "{accounts}"
        );
        assert_eq!(r[1], format!("10.77.0.{}", 101 + i), "{accounts}");
        assert_eq!(r[2], "ANY", "{accounts}");
    }
    let plain = f.run(
        "web1",
        &[
            "mariadb",
            "--no-defaults",
            "-h",
            "10.77.0.11",
            "-u",
            rows[0][0],
            "-pwrong",
            "--skip-ssl",
            "-e",
            "SELECT 1",
        ],
    );
    assert!(!plain.status.success());
    // the replica has every database
    for i in 1..=3 {
        assert!(
            f.sql("db2", "SHOW DATABASES")
                .contains(&format!("wp{i}_fleet_test")),
            "replica lacks wp{i}"
        );
    }

    // 2. move wp1 from web1 to web2 while a client writes through it continuously
    let docroot = f.root("web1").join(format!("srv/www/{wp1}/htdocs"));
    let owner = std::fs::metadata(&docroot).unwrap();
    let writer = docroot.join("fleet-write.php");
    std::fs::write(&writer, WRITER).unwrap();
    std::os::unix::fs::chown(
        &writer,
        Some(std::os::unix::fs::MetadataExt::uid(&owner)),
        Some(std::os::unix::fs::MetadataExt::gid(&owner)),
    )
    .unwrap();
    let (code, body) = f.get(wp1, "/fleet-write.php?n=0");
    assert_eq!((code, body.as_str()), (200, "ok web1"), "{body}");
    let log = f.dir().join("poll.jsonl");
    let mut poller = f
        .cmd(&["poll", &format!("http://{EDGE}/fleet-write.php?n={{n}}")])
        .arg(&log)
        .args(["--host", &format!("{wp1}:8080")])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let moved = f.playbook(&["move", wp1, "web1", "web2"], &[]);
    std::thread::sleep(Duration::from_secs(2));
    std::fs::write(format!("{}.stop", log.display()), "").unwrap();
    poller.wait().unwrap();
    assert!(moved.ok, "{}", moved.output);
    let polls: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed: Vec<&serde_json::Value> = polls
        .iter()
        .filter(|p| p["status"] != 200 || !p["body"].as_str().unwrap().starts_with("ok "))
        .collect();
    let slowest = polls
        .iter()
        .map(|p| p["ms"].as_f64().unwrap())
        .fold(0.0, f64::max);
    eprintln!(
        "fleet: move {:.1} s, {} requests, {} failed, slowest {slowest} ms",
        moved.seconds,
        polls.len(),
        failed.len()
    );
    assert!(polls.len() > 50, "too few requests: {}", polls.len());
    assert!(
        failed.is_empty(),
        "failed requests during the move: {failed:?}"
    );
    let served_by: std::collections::BTreeSet<&str> = polls
        .iter()
        .map(|p| p["body"].as_str().unwrap().trim_start_matches("ok "))
        .collect();
    assert_eq!(
        served_by.into_iter().collect::<Vec<_>>(),
        ["web1", "web2"],
        "the move did not switch hosts under the poller"
    );
    // every write acknowledged before and during the move is in the database
    let db = rows[0][0];
    let stored = f.sql("db1", &format!("SELECT COUNT(*) FROM `{db}`.fleet_writes"));
    assert_eq!(
        stored.trim().parse::<usize>().unwrap(),
        polls.len() + 1,
        "rows lost in the move"
    );
    // the old host no longer has the site (its files archived), its account is gone, the new
    // host's account exists; the backups of both hosts are in the one repository
    assert!(!f.root("web1").join(format!("srv/www/{wp1}")).exists());
    assert!(
        std::fs::read_dir(f.root("web1").join("var/lib/lempctl/archive"))
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().contains(wp1))
    );
    let hosts = f.sql(
        "db1",
        &format!("SELECT host FROM mysql.user WHERE user = '{db}'"),
    );
    assert_eq!(hosts.trim(), "10.77.0.102");
    let snaps = f.run(
        "web2",
        &[
            "restic",
            "-r",
            "s3:http://10.77.0.20:5000/fleet-backups/restic",
            "-p",
            &f.root("web2")
                .join("etc/lempctl/backup.password")
                .display()
                .to_string(),
            "snapshots",
            "--json",
            "--tag",
            &format!("site={wp1}"),
        ],
    );
    let snaps = text(&snaps.stdout);
    for h in ["web1", "web2"] {
        assert!(snaps.contains(&format!("\"hostname\":\"{h}\"")), "{snaps}");
        assert!(snaps.contains(&format!("\"host={h}\"")), "{snaps}");
    }
    // with the sites file saying where it lives now, the next run changes nothing
    f.write_sites(&sites(&[
        ("web2", "web1"),
        ("web2", "web2"),
        ("web3", "web3"),
    ]));
    let after = f.playbook(&["converge"], &[]);
    assert!(after.ok, "{}", after.output);
    for h in ["web1", "web2", "web3", "edge1"] {
        assert_eq!(
            after.changed(h),
            0,
            "{h} changed after the move:\n{}",
            after.output
        );
    }

    // 3. the replica is promoted; one playbook run points every site at it
    let out = f.cmd(&["promote"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let failover = f.playbook(&["converge"], &["fleet_database_host=10.77.0.12"]);
    assert!(failover.ok, "{}", failover.output);
    for i in 1..=3 {
        let (code, body) = f.get(&format!("wp{i}.fleet.test"), "/");
        assert_eq!(code, 200, "wp{i} after the failover: {body}");
        assert!(body.contains(&format!("Fleet blog {i}")), "{body}");
    }
    let (code, body) = f.get(wp1, "/fleet-write.php?n=1000000");
    assert_eq!((code, body.as_str()), (200, "ok web2"));
    assert_eq!(
        f.sql(
            "db2",
            &format!("SELECT host FROM `{db}`.fleet_writes WHERE n = 1000000")
        )
        .trim(),
        "web2"
    );

    // 4. web3's nginx dies: the edge stops sending to it, the playbook fails web3 only
    let pid = std::fs::read_to_string(f.root("web3").join("run/nginx.pid")).unwrap();
    let _ = Command::new("kill").arg(pid.trim()).status();
    std::thread::sleep(Duration::from_millis(500));
    let upstream_log = f.dir().join("edge/logs/upstream.log");
    let before = std::fs::read_to_string(&upstream_log)
        .unwrap()
        .lines()
        .count();
    for _ in 0..3 {
        let (code, _) = f.get("wp3.fleet.test", "/");
        assert_eq!(code, 503);
    }
    let tried: Vec<String> = std::fs::read_to_string(&upstream_log)
        .unwrap()
        .lines()
        .skip(before)
        .map(str::to_owned)
        .collect();
    assert_eq!(tried.len(), 3, "{tried:?}");
    assert!(
        tried[0].contains("10.77.0.103:8080, 127.0.0.1:8099"),
        "{tried:?}"
    );
    for t in &tried[1..] {
        assert!(
            !t.contains("10.77.0.103"),
            "the edge still tries web3: {tried:?}"
        );
    }
    let (code, _) = f.get("wp2.fleet.test", "/");
    assert_eq!(code, 200);
    let lost = f.playbook(&["converge"], &["fleet_database_host=10.77.0.12"]);
    assert!(!lost.ok);
    assert_eq!(lost.failed("web3"), 1, "{}", lost.output);
    assert!(
        lost.output
            .lines()
            .any(|l| l.starts_with("fatal: [web3]") && l.contains("not running: nginx")),
        "{}",
        lost.output
    );
    for h in ["web1", "web2", "edge1"] {
        assert_eq!(
            (lost.failed(h), lost.changed(h)),
            (0, 0),
            "{h}:\n{}",
            lost.output
        );
    }
}
