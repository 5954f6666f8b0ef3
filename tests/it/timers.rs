//! Timers proven to fire under a real systemd: a throw-away container (`systemd-nspawn -b` with
//! the host's `/usr` read-only) boots systemd as PID 1 with the units `apply` rendered for a
//! sandbox. Both timers last fired two days ago (`Persistent=true`), so they catch up at boot:
//! the backup succeeds, the S3 sync fails and its `OnFailure=` unit mails once, and `status`
//! run inside reads the units' results from systemd. Everything is checked from outside.

use std::path::Path;
use std::process::Command;

use crate::support::*;

const PROMTOOL: &str = "/opt/lempctl-promtool/usr/bin/promtool";

fn promtool() -> Need<()> {
    if Path::new(PROMTOOL).is_file() {
        return Ok(());
    }
    Err(missing(&format!(
        "{PROMTOOL} missing: scripts/install-deps unpacks it from Debian's prometheus"
    )))
}

const BACKUP: &str = "lempctl-backup@st.ns.test";
const SYNC: &str = "lempctl-s3sync@fail.ns.test";

/// The container's root: the generic one, with both timers last fired two days ago.
fn rootfs(dir: &Path, sb: &Sandbox) {
    let units = container::rootfs(dir, sb);
    let stamps = dir.join("var/lib/systemd/timers");
    std::fs::create_dir_all(&stamps).unwrap();
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
    for job in [BACKUP, SYNC] {
        let stamp = stamps.join(format!("stamp-{job}.timer"));
        let f = std::fs::File::create(&stamp).unwrap();
        f.set_modified(two_days_ago).unwrap();
        // the shipped RandomizedDelaySec would hold the catch-up back for minutes
        let d = units.join(format!("{job}.timer.d"));
        std::fs::write(
            d.join("test-no-delay.conf"),
            "[Timer]\nRandomizedDelaySec=0\n",
        )
        .unwrap();
    }
    // the probe: waits for both jobs and the alert, runs status, powers off
    let root = sb.root().display();
    let alert = format!("lempctl-alert@{SYNC}.service.service");
    container::probe(
        dir,
        "timers.target",
        &format!(
            "J={root}/var/lib/lempctl/jobs\nfor i in $(seq 1 300); do\n  \
             if grep -qs '\"last_end\": [0-9]' \"$J/{BACKUP}.json\" && grep -qs '\"last_end\": [0-9]' \"$J/{SYNC}.json\" \\\n    \
             && [ \"$(systemctl show -p ActiveState --value '{alert}')\" = inactive ] \\\n    \
             && [ \"$(systemctl show -p ExecMainExitTimestampMonotonic --value '{alert}')\" != 0 ]; then break; fi\n  \
             sleep 0.2\ndone\n{bin} --root {root} status --json --no-probe --textfile > {root}/status-in-container.json\n\
             systemctl list-timers --all --no-pager\nsystemctl poweroff\n",
            bin = env!("CARGO_BIN_EXE_lempctl"),
        ),
    );
}

#[test]
fn timers_fire_under_a_real_systemd_catch_up_and_a_failure_is_mailed_once() {
    let _turn = machine_heavy();
    require!(
        &[
            "nginx",
            "restic",
            "systemd-machine-id-setup",
            "timeout",
            "cp"
        ],
        container::nspawn(),
        promtool()
    );
    let sb = Sandbox::new()
        .site(
            "st.yaml",
            "name: st.ns.test\nkind: static\nbackup:\n  schedule: \"30 2 * * *\"\n",
        )
        .site(
            "fail.yaml",
            "name: fail.ns.test\nkind: static\ns3:\n  bucket: nsbucket\n  endpoint: http://127.0.0.1:9\n  path_style: true\n  schedule: \"45 3 * * *\"\n",
        )
        .started();
    let sink = require!(SmtpSink::start(&sb.path("/tmp")));
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(
        &g,
        format!(
            "{text}scheduler: systemd\nbackup:\n  repository: /var/backups/lempctl\nmonitoring:\n  textfile_dir: /var/lib/node-exporter\nalerts:\n  smtp_host: 127.0.0.1\n  smtp_port: {}\n  from: lempctl@host.test\n  to: [ops@example.test]\n",
            sink.port
        ),
    )
    .unwrap();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");
    let unit =
        std::fs::read_to_string(sb.path("/etc/systemd/system/lempctl-backup@.service")).unwrap();
    assert!(
        unit.contains("OnFailure=lempctl-alert@%n.service") && unit.contains("--job %N backup run"),
        "{unit}"
    );

    let container = tempfile::Builder::new()
        .prefix("lempctl-ns-")
        .tempdir()
        .unwrap();
    rootfs(container.path(), &sb);
    let started = chrono::Utc::now().timestamp();
    let out = container::boot(container.path(), &sb, &[]);
    let console = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the container did not boot and power off: {console}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // both timers caught up at boot (their schedules are hours away) and ran the jobs
    let record = |job: &str| -> serde_json::Value {
        let p = sb.path(&format!("/var/lib/lempctl/jobs/{job}.json"));
        serde_json::from_slice(
            &std::fs::read(&p).unwrap_or_else(|e| panic!("{job}: {e}\n{console}")),
        )
        .unwrap()
    };
    let (b, s) = (record(BACKUP), record(SYNC));
    assert!(b["last_start"].as_i64().unwrap() >= started, "{b}");
    assert_eq!(b["last_exit"], 0, "{b}");
    assert_eq!(s["last_exit"], 1, "{s}");
    let (code, list, err) = sb.json(&["backup", "list", "st.ns.test"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        list.to_string().contains("st.ns.test"),
        "a real snapshot: {list}"
    );

    // the failure went through OnFailure= → lempctl alert: one mail, with the journal
    let mail = sink.received();
    assert_eq!(
        mail.matches(&format!("Subject: lempctl: job {SYNC} failed on"))
            .count(),
        1,
        "{mail}"
    );
    assert!(mail.contains("Last log lines"), "{mail}");
    assert!(
        s["error"].as_str().unwrap().contains("does not exist"),
        "the record keeps the command's own error: {s}"
    );
    assert_eq!(
        mail.matches("Subject: lempctl: job lempctl-backup").count(),
        0
    );

    // status inside the container read the units' results from systemd
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sb.path("/status-in-container.json")).unwrap())
            .unwrap();
    let job = |site: &str| {
        st["sites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == site)
            .map(|s| s["jobs"][0].clone())
            .unwrap()
    };
    assert_eq!(
        (
            &job("st.ns.test")["result"],
            &job("st.ns.test")["unit_result"]
        ),
        (&"success".into(), &"success".into()),
        "{st}"
    );
    assert_eq!(
        (
            &job("fail.ns.test")["result"],
            &job("fail.ns.test")["unit_result"]
        ),
        (&"failed".into(), &"exit-code".into()),
        "{st}"
    );
    let prom =
        std::fs::read_to_string(sb.path("/var/lib/node-exporter/lempctl_jobs.prom")).unwrap();
    assert!(
        prom.contains(
            "lempctl_job_last_run_success{job=\"lempctl-backup\",site=\"st.ns.test\"} 1\n"
        ) && prom.contains(
            "lempctl_job_last_run_success{job=\"lempctl-s3sync\",site=\"fail.ns.test\"} 0\n"
        ),
        "{prom}"
    );
    // the Prometheus text format as Prometheus's own checker reads it, and the example rules
    for file in ["lempctl_jobs.prom", "lempctl_status.prom"] {
        let check = Command::new(PROMTOOL)
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(sb.path(&format!("/var/lib/node-exporter/{file}"))).unwrap())
            .output()
            .unwrap();
        assert!(
            check.status.success() && check.stdout.is_empty() && check.stderr.is_empty(),
            "{file}: {check:?}"
        );
    }
    let status_prom =
        std::fs::read_to_string(sb.path("/var/lib/node-exporter/lempctl_status.prom")).unwrap();
    assert!(
        status_prom.contains("lempctl_sites{state=\"job failed\"} 1\n")
            && status_prom.contains("lempctl_site_ok{site=\"fail.ns.test\"} 0\n")
            && status_prom.contains("lempctl_status_ok 0\n"),
        "{status_prom}"
    );
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/alerts.rules.yml");
    let check = Command::new(PROMTOOL)
        .args(["check", "rules", rules])
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
}
