//! Log rotation from the sysadmin's side: one managed logrotate file for every site's logs,
//! checked by the real `logrotate -d`, and a real forced rotation under traffic with the
//! sandbox's nginx and PHP-FPM: nothing lost, the new files written after one reopen, and the
//! next `apply` has nothing to fix.

use std::process::Command;

use crate::support::*;

fn lines(p: &std::path::Path) -> usize {
    std::fs::read_to_string(p).map_or(0, |t| t.lines().count())
}

#[test]
fn every_sites_logs_rotate_with_one_reopen_and_nothing_lost() {
    require!(&["nginx", "php-fpm8.2", "useradd", "logrotate"]);
    let sb = Sandbox::new()
        .site("a.lr.test.yaml", "name: a.lr.test\nkind: php\n")
        .site("b.lr.test.yaml", "name: b.lr.test\nkind: php\n")
        .site("c.lr.test.yaml", "name: c.lr.test\nkind: static\n")
        .started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");
    let conf = sb.path("/etc/logrotate.d/lempctl");
    let text = std::fs::read_to_string(&conf).unwrap();
    // one pattern per service, whatever the number of sites
    assert!(text.contains("/var/log/nginx/*.access.log"), "{text}");
    assert!(text.contains("/var/log/php/*.slow.log"), "{text}");
    assert!(text.contains("su w_a_lr_test w_a_lr_test"), "{text}");
    assert_eq!(
        text.matches("sharedscripts").count(),
        2,
        "nginx and one PHP-FPM master: {text}"
    );
    let debug = Command::new("logrotate")
        .args(["-d", "-s", "/dev/null"])
        .arg(&conf)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&debug.stderr);
    assert!(debug.status.success() && !said.contains("error:"), "{said}");

    let nginx_pid = std::fs::read_to_string(sb.path("/run/nginx.pid")).unwrap();
    let hosts = ["a.lr.test", "b.lr.test", "c.lr.test"];
    for i in 0..30 {
        assert!(
            sb.get(hosts[i % 3], &format!("/before{i}"))
                .status
                .code()
                .is_some()
        );
    }
    let access = |h: &str| sb.path(&format!("/var/log/nginx/{h}.access.log"));
    let before: Vec<usize> = hosts.iter().map(|h| lines(&access(h))).collect();
    let state = sb.path("/var/lib/logrotate.status");
    let out = Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(&state)
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for i in 0..30 {
        assert!(
            sb.get(hosts[i % 3], &format!("/after{i}"))
                .status
                .code()
                .is_some()
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    for (h, n) in hosts.iter().zip(before) {
        let rotated = sb.path(&format!("/var/log/nginx/{h}.access.log.1"));
        assert_eq!(
            lines(&rotated),
            n,
            "{h}: every line before the rotation is in .1"
        );
        let now = std::fs::read_to_string(access(h)).unwrap();
        assert_eq!(
            now.lines().count(),
            10,
            "{h}: every line after it in the new file: {now}"
        );
        assert!(now.lines().all(|l| l.contains("/after")), "{now}");
    }
    // one reopen, no restart: the same master; the new files as the next apply wants them
    assert_eq!(
        std::fs::read_to_string(sb.path("/run/nginx.pid")).unwrap(),
        nginx_pid
    );
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["changed"], false, "a rotated host is not drift: {v}");

    // removing a site removes its own log from the rotation, the others stay
    std::fs::remove_file(sb.path("/etc/lempctl/sites.d/b.lr.test.yaml")).unwrap();
    let (code, v, err) = sb.json(&["apply", "--prune"]);
    assert_eq!(code, 0, "{v} {err}");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        !text.contains("b.lr.test") && text.contains("a.lr.test/logs/php-error.log"),
        "{text}"
    );
}

#[test]
fn bad_rotation_settings_are_refused() {
    require!(&["nginx"]);
    for (yaml, want) in [
        (
            "log_rotation:\n  frequency: hourly\n",
            "`log_rotation.frequency`",
        ),
        ("log_rotation:\n  keep: 0\n", "`log_rotation.keep`"),
    ] {
        let sb = Sandbox::new().site("a.lr.test.yaml", "name: a.lr.test\nkind: static\n");
        let g = sb.path("/etc/lempctl/lempctl.yaml");
        let text = std::fs::read_to_string(&g).unwrap();
        std::fs::write(&g, format!("{text}{yaml}")).unwrap();
        let before = sb.tree();
        let out = sb.lempctl().arg("apply").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{err}");
        assert_eq!(sb.tree(), before);
    }
}

#[test]
fn a_rotation_file_logrotate_refuses_is_rolled_back() {
    require!(&["nginx", "useradd", "logrotate"]);
    let sb = Sandbox::new()
        .site("a.lr.test.yaml", "name: a.lr.test\nkind: static\n")
        .started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");
    let conf = sb.path("/etc/logrotate.d/lempctl");
    let good = std::fs::read_to_string(&conf).unwrap();
    sb.write(
        "/etc/lempctl/templates/logrotate/lempctl.j2",
        "# {{ sites }}\n{{ nginx_logs | join(\"\\n\") }} {\n    bogusdirective\n}\n",
    );
    let out = sb.lempctl().arg("apply").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("unknown option 'bogusdirective'"),
        "logrotate is quoted: {err}"
    );
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), good, "rolled back");
}
