//! The scheduling mechanism: systemd units verified offline, or /etc/cron.d without systemd.

use crate::support::*;

fn set_global(sb: &Sandbox, extra: &str) {
    let path = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}{extra}")).unwrap();
}

#[test]
fn systemd_timer_units_are_written_enabled_and_verified() {
    require!(&["systemd-analyze"]);
    let sb = Sandbox::new();
    set_global(
        &sb,
        "scheduler: systemd\nschedule:\n  apply: \"*/30 * * * *\"\n",
    );
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let dir = sb.path("/etc/systemd/system");
    let drop_in = std::fs::read_to_string(dir.join("lempctl-apply.timer.d/schedule.conf")).unwrap();
    assert!(drop_in.contains("OnCalendar=*-*-* *:00/30:00"), "{drop_in}");
    let link = std::fs::read_link(dir.join("timers.target.wants/lempctl-apply.timer")).unwrap();
    assert_eq!(
        link,
        std::path::Path::new("/etc/systemd/system/lempctl-apply.timer")
    );
    let service = std::fs::read_to_string(dir.join("lempctl-apply.service")).unwrap();
    assert!(
        service.contains(&format!("--root {}", sb.root().display())),
        "{service}"
    );
    // The units pass systemd's own checker, from outside.
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "lempctl-apply.timer", "lempctl-apply.service"])
        .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `systemctl --root` sees the timer as enabled, like one it enabled itself.
    let out = std::process::Command::new("systemctl")
        .arg(format!("--root={}", sb.root().display()))
        .args(["is-enabled", "lempctl-apply.timer"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "enabled");
    // Removing the schedule removes the units and the link.
    let path = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("schedule:\n  apply: \"*/30 * * * *\"\n", "");
    std::fs::write(&path, text).unwrap();
    sb.lempctl().arg("apply").assert().success();
    assert!(!dir.join("timers.target.wants/lempctl-apply.timer").exists());
    assert!(!dir.join("lempctl-apply.timer").exists());
}

#[test]
fn a_unit_systemd_rejects_fails_the_run_and_is_rolled_back() {
    require!(&["systemd-analyze"]);
    let sb = Sandbox::new();
    set_global(&sb, "scheduler: systemd\nschedule:\n  apply: \"@daily\"\n");
    sb.write(
        "/etc/lempctl/templates/units/lempctl-apply.timer.j2",
        "[Timer]\nOnCalender=daily\n[Install]\nWantedBy=timers.target\n",
    );
    let out = sb.lempctl().arg("apply").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("OnCalender"), "{err}");
    assert!(!sb.path("/etc/systemd/system/lempctl-apply.timer").exists());
}

#[test]
fn without_systemd_schedules_go_to_cron_d() {
    let sb = Sandbox::new();
    set_global(
        &sb,
        "scheduler: cron\nschedule:\n  apply: \"15 3 * * 1-5\"\n",
    );
    let (code, _, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    let cron = std::fs::read_to_string(sb.path("/etc/cron.d/lempctl")).unwrap();
    let line = cron.lines().find(|l| l.starts_with("15 3")).unwrap();
    assert!(line.starts_with("15 3 * * 1-5 root "), "{line}");
    assert!(line.ends_with("apply --quiet"), "{line}");
    assert!(!sb.path("/etc/systemd/system/lempctl-apply.timer").exists());
}
