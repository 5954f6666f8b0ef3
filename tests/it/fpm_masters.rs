//! `tuning.php_fpm_masters`: the pools spread over lempctl's own PHP-FPM masters beside the
//! distribution's, each site's PHP answered by a worker of the master its name hashes to; back
//! to one master while requests run, none fails, and the own masters are stopped and gone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::support::*;

/// Each site and the master its name hashes to (of 3).
const SITES: [(&str, u16); 5] = [
    ("a.masters.test", 0),
    ("f.masters.test", 0),
    ("d.masters.test", 1),
    ("e.masters.test", 1),
    ("b.masters.test", 2),
];

fn pid_file(sb: &Sandbox, shard: u16) -> std::path::PathBuf {
    match shard {
        0 => sb.path("/run/php/php8.2-fpm.pid"),
        n => sb.path(&format!("/run/php/lempctl-php8.2-fpm-{n}.pid")),
    }
}

fn master_pid(sb: &Sandbox, shard: u16) -> i32 {
    let text = std::fs::read_to_string(pid_file(sb, shard)).unwrap();
    text.trim().parse().unwrap()
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The master whose worker answered the site's PHP (the worker's parent).
fn served_by(sb: &Sandbox, site: &str) -> i32 {
    let r = sb.get(site, "/pid.php");
    assert_eq!(r.status, 200, "{site}: {r:?}");
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", r.body.trim())).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    rest.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Every file (with its contents) and directory under the services' configuration.
fn configuration(sb: &Sandbox) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    fn walk(
        dir: &std::path::Path,
        out: &mut std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>,
    ) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.insert(path.clone(), Vec::new());
                walk(&path, out);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    for d in ["/etc/nginx", "/etc/php", "/etc/logrotate.d"] {
        walk(&sb.path(d), &mut out);
    }
    out
}

/// A started sandbox with the PHP sites of `SITES`.
fn started_with_sites() -> Sandbox {
    let mut sb = Sandbox::new();
    for (site, _) in SITES {
        sb = sb.site(
            &format!("{site}.yaml"),
            &format!("name: {site}\nkind: php\n"),
        );
    }
    sb.started()
}

fn set_masters(sb: &Sandbox, n: &str) {
    let p = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&p).unwrap();
    let kept = text.split("tuning:\n").next().unwrap().to_owned();
    std::fs::write(p, format!("{kept}tuning:\n  php_fpm_masters: {n}\n")).unwrap();
}

#[test]
fn pools_spread_over_own_masters_and_come_back_without_a_failed_request() {
    require!(&["nginx", "php-fpm8.2", "useradd"]);
    let sb = started_with_sites();

    // Not a number of masters lempctl runs: exit 2, the field named, nothing written.
    set_masters(&sb, "0");
    let before = sb.tree();
    let out = sb.lempctl().arg("apply").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("tuning.php_fpm_masters") && err.contains("lempctl.yaml:"),
        "{err}"
    );
    assert_eq!(before, sb.tree());

    set_masters(&sb, "3");
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let service = |v: &serde_json::Value, action: &str, unit: &str| {
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["action"] == action && c["kind"] == "service" && c["target"] == unit)
    };
    for k in [1, 2] {
        assert!(
            service(&v, "start", &format!("lempctl-php8.2-fpm-{k}")),
            "{v}"
        );
    }
    assert!(service(&v, "reload", "php8.2-fpm"), "{v}");
    for (site, shard) in SITES {
        let pool = match shard {
            0 => format!("/etc/php/8.2/fpm/pool.d/{site}.conf"),
            n => format!("/etc/php/8.2/fpm/lempctl-{n}/pool.d/{site}.conf"),
        };
        assert!(sb.path(&pool).is_file(), "{pool}");
        sb.write(
            &format!("/srv/www/{site}/htdocs/pid.php"),
            "<?php echo getmypid();",
        );
        assert_eq!(
            served_by(&sb, site),
            master_pid(&sb, shard),
            "{site} is answered by master {shard}"
        );
    }
    let own: Vec<i32> = [1, 2].iter().map(|k| master_pid(&sb, *k)).collect();
    // every master reopens its logs at rotation; the own masters' error logs rotate too
    let rotation = std::fs::read_to_string(sb.path("/etc/logrotate.d/lempctl")).unwrap();
    for k in [0, 1, 2] {
        assert!(
            rotation.contains(&pid_file(&sb, k).display().to_string()),
            "{rotation}"
        );
    }
    assert!(
        rotation.contains(&format!(
            "{}/*.log",
            sb.path("/var/log/php/masters").display()
        )),
        "{rotation}"
    );
    assert!(own.iter().all(|p| alive(*p)));

    // status lists each master running; doctor tests each one's configuration.
    let (code, v, err) = sb.json(&["status", "--no-probe"]);
    assert_eq!(code, 0, "{err}\n{v}");
    for unit in ["php8.2-fpm", "lempctl-php8.2-fpm-1", "lempctl-php8.2-fpm-2"] {
        let svc = v["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"] == unit)
            .unwrap_or_else(|| panic!("{unit} in {v}"));
        assert_eq!(svc["running"], true, "{v}");
    }
    let (_, v, err) = sb.json(&["doctor"]);
    let config: Vec<&serde_json::Value> = v["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("{err}"))
        .iter()
        .filter(|c| c["check"] == "php-fpm-config" || c["check"] == "php-fpm-masters")
        .collect();
    assert_eq!(config.len(), 4, "{v}");
    assert!(config.iter().all(|c| c["result"] == "ok"), "{v}");

    // Back to one master while every site is asked for its PHP: no request fails.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let port = sb.port;
    let asker = {
        let (stop, failures) = (stop.clone(), failures.clone());
        std::thread::spawn(move || {
            let mut asked = 0;
            while !stop.load(Ordering::Relaxed) {
                for (site, _) in SITES {
                    let r = http_get(port, site, "/pid.php", &[]);
                    if r.status != 200 {
                        failures.lock().unwrap().push(format!("{site}: {r:?}"));
                    }
                    asked += 1;
                }
            }
            asked
        })
    };
    set_masters(&sb, "1");
    let (code, v, err) = sb.json(&["apply"]);
    stop.store(true, Ordering::Relaxed);
    let asked = asker.join().unwrap();
    assert_eq!(code, 0, "{err}\n{v}");
    for k in [1, 2] {
        assert!(
            service(&v, "stop", &format!("lempctl-php8.2-fpm-{k}")),
            "{v}"
        );
    }
    assert!(asked > 10, "{asked} requests");
    assert_eq!(*failures.lock().unwrap(), Vec::<String>::new());
    let main = master_pid(&sb, 0);
    for (site, _) in SITES {
        assert_eq!(served_by(&sb, site), main, "{site}");
    }
    assert!(own.iter().all(|p| !alive(*p)), "own masters stopped");
    for k in [1, 2] {
        assert!(!pid_file(&sb, k).exists());
        assert!(
            !sb.path(&format!("/etc/php/8.2/fpm/lempctl-{k}/php-fpm.conf"))
                .exists()
        );
    }
    let (code, v, err) = sb.json(&["status", "--no-probe"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(!v.to_string().contains("lempctl-php8.2-fpm-"), "{v}");
}

/// Under systemd, an own master is a unit `apply` renders (for the host's paths), verifies and
/// enables; a real systemd (PID 1 in a throw-away container where the rendered files are at
/// those paths) starts it at boot from that unit (`Type=notify`), its site's pool listens, and
/// `systemctl reload` keeps it running.
#[test]
fn an_own_master_starts_and_reloads_from_its_unit_under_a_real_systemd() {
    let _turn = machine_heavy();
    require!(
        &[
            "php-fpm8.2",
            "useradd",
            "systemd-analyze",
            "systemd-machine-id-setup",
            "timeout",
            "cp"
        ],
        container::nspawn()
    );
    // b.masters.test hashes to master 2 of 3
    let sb = Sandbox::new().site("b.yaml", "name: b.masters.test\nkind: php\n");
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&g).unwrap();
    assert!(text.contains("service_manager: direct\n"), "{text}");
    std::fs::write(
        &g,
        text.replace("service_manager: direct\n", "service_manager: systemd\n")
            // the slow logs where php-fpm's test here and the container both find them
            + &format!(
                "paths:\n  php_log_dir: {logs}\ntuning:\n  php_fpm_masters: 3\n",
                logs = sb.path("/var/log/php").display()
            ),
    )
    .unwrap();
    // nothing runs systemd here: apply writes, verifies the units offline, and warns that the
    // services are not running
    let (code, v, err) = sb.json(&["apply", "--no-health-check"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let units = sb.path("/etc/systemd/system");
    for k in [1, 2] {
        let unit = format!("lempctl-php8.2-fpm-{k}.service");
        let text = std::fs::read_to_string(units.join(&unit)).unwrap();
        assert!(
            text.contains(&format!(
                "--fpm-config /etc/php/8.2/fpm/lempctl-{k}/php-fpm.conf"
            )),
            "{text}"
        );
        assert_eq!(
            std::fs::read_link(units.join("multi-user.target.wants").join(&unit)).unwrap(),
            std::path::Path::new("/etc/systemd/system").join(&unit)
        );
    }

    std::fs::create_dir_all(sb.path("/var/log/php/masters")).unwrap();
    let dir = tempfile::Builder::new()
        .prefix("lempctl-ns-")
        .tempdir()
        .unwrap();
    container::rootfs(dir.path(), &sb);
    let root = sb.root().display();
    container::probe(
        dir.path(),
        "multi-user.target",
        &format!(
            "U=lempctl-php8.2-fpm-2\nO={root}/in-container.txt\n\
             for i in $(seq 1 100); do [ \"$(systemctl is-active $U)\" = active ] && break; sleep 0.1; done\n\
             systemctl show -p ActiveState -p MainPID lempctl-php8.2-fpm-1 $U > $O\n\
             grep -c 'w_b_masters_test.m2.sock' /proc/net/unix | sed 's/^/listening=/' >> $O\n\
             PID=$(systemctl show -p MainPID --value $U)\n\
             systemctl reload $U; echo reload=$? >> $O\n\
             sleep 1\n\
             echo after=$(systemctl is-active $U) same_pid=$([ \"$(systemctl show -p MainPID --value $U)\" = $PID ] && echo yes) >> $O\n\
             systemctl poweroff\n"
        ),
    );
    let binds: Vec<String> = ["/etc/php", "/srv/www"]
        .iter()
        .map(|p| format!("{}:{p}", sb.path(p).display()))
        .collect();
    let out = container::boot(dir.path(), &sb, &binds);
    let console = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the container did not boot and power off: {console}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = std::fs::read_to_string(sb.path("/in-container.txt"))
        .unwrap_or_else(|e| panic!("{e}\n{console}"));
    assert_eq!(seen.matches("ActiveState=active").count(), 2, "{seen}");
    assert!(!seen.contains("MainPID=0"), "{seen}");
    assert!(
        seen.contains("reload=0") && seen.contains("after=active same_pid=yes"),
        "{seen}"
    );
    let listening: u32 = seen
        .lines()
        .find_map(|l| l.strip_prefix("listening="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(listening > 0, "the site's pool listens: {seen}");
}

/// A run that started new masters and then fails is rolled back completely: the started
/// masters are stopped, their files are gone, and every site is still answered by the master
/// that served it before.
#[test]
fn a_failed_run_stops_the_masters_it_started() {
    require!(&["nginx", "php-fpm8.2", "useradd"]);
    let sb = started_with_sites();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let main = master_pid(&sb, 0);
    for (site, _) in SITES {
        sb.write(
            &format!("/srv/www/{site}/htdocs/pid.php"),
            "<?php echo getmypid();",
        );
        assert_eq!(served_by(&sb, site), main);
    }
    let before = configuration(&sb);

    // An override whose masters load none of their pools: php-fpm accepts it and the masters
    // start, but the moved sites' sockets never listen.
    let ours = lempctl::render::templates::EMBEDDED
        .iter()
        .find(|(n, _)| *n == "php-fpm/master.conf.j2")
        .unwrap()
        .1;
    let broken = ours.replace("{{ pool_dir }}/*.conf", "{{ pool_dir }}/*.none");
    assert_ne!(broken, ours);
    sb.write("/etc/lempctl/templates/php-fpm/master.conf.j2", &broken);
    set_masters(&sb, "3");
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 1, "{err}\n{v}");
    assert!(
        err.contains("rolled back") && !err.contains("incomplete"),
        "{err}"
    );
    for k in [1, 2] {
        assert!(!pid_file(&sb, k).exists(), "master {k} stopped");
        assert!(
            !sb.path(&format!("/etc/php/8.2/fpm/lempctl-{k}/php-fpm.conf"))
                .exists()
        );
    }
    let running = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| {
            String::from_utf8_lossy(c)
                .contains(&format!("{}/etc/php/8.2/fpm/lempctl-", sb.root().display()))
        })
        .count();
    assert_eq!(running, 0, "no own master of this sandbox runs");
    // (a reload of a daemonizing master under `direct` gives it a new pid)
    let main = master_pid(&sb, 0);
    for (site, _) in SITES {
        assert_eq!(served_by(&sb, site), main, "{site}");
    }
    // the configuration as it was: every file and directory under nginx's, PHP's and
    // logrotate's directories, by content
    assert_eq!(before, configuration(&sb));
}
