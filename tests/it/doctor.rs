//! `lempctl doctor` against real servers: nothing fails on a clean sandbox (the `.test` names do
//! not resolve: that one warning is expected), and each planted problem — a credentials file
//! opened up, a hand-edited vhost, a planted link in a site tree, nginx with too few open files,
//! MariaDB stopped, the backup password file gone, a fail2ban jail or rotation file their programs
//! reject — fails its own check, with its hint, and no other; a small opcache and a PHP-FPM that
//! kills requests on reload are warnings.

use std::os::unix::fs::PermissionsExt;

use crate::backup;
use crate::support::*;

const DB_SITE: &str = "name: shop.doctor.test\nkind: php\ndb: {}\n";

/// `(check, result)` of every check that is not `ok`.
fn not_ok(v: &serde_json::Value) -> Vec<(String, String)> {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] != "ok")
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_owned(),
                c["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The checks named `name`.
fn checks<'a>(v: &'a serde_json::Value, name: &str) -> Vec<&'a serde_json::Value> {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == name)
        .collect()
}

fn names(v: &serde_json::Value) -> Vec<String> {
    let mut n: Vec<String> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap().to_owned())
        .collect();
    n.dedup();
    n
}

fn pair(check: &str, result: &str) -> (String, String) {
    (check.to_owned(), result.to_owned())
}

/// Runs `doctor --json`; asserts the exit code matches `ok`.
fn doctor(sb: &Sandbox) -> serde_json::Value {
    let (code, v, err) = sb.json(&["doctor"]);
    assert_eq!(code, if v["ok"] == true { 0 } else { 1 }, "{err}\n{v:#}");
    v
}

#[test]
fn clean_sandbox_has_only_the_name_warning_and_each_planted_problem_fails_its_check() {
    require!(WEB, &["prlimit"]);
    let sb = Sandbox::new().site("php.yaml", PHP_SITE).started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");

    let v = doctor(&sb);
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(not_ok(&v), vec![pair("name-resolution", "warn")], "{v:#}");
    assert!(
        checks(&v, "name-resolution")[0]["message"]
            .as_str()
            .unwrap()
            .contains("php.example.test"),
        "{v:#}"
    );
    for name in [
        "nginx-config",
        "php-fpm-config",
        "logrotate-config",
        "managed-files",
        "permissions",
        "open-files",
        "opcache",
        "disk-space",
    ] {
        assert!(
            names(&v).contains(&name.to_owned()),
            "{name} missing: {v:#}"
        );
    }
    // not configured here: absent, not "ok"
    for name in ["mariadb", "backup-repository", "fail2ban-config", "clock"] {
        assert!(checks(&v, name).is_empty(), "{name} present: {v:#}");
    }
    // human output: one line per check, the hint under the warning
    let out = sb.lempctl().arg("doctor").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("ok   nginx-config") && l.ends_with("nginx -t passed")),
        "{text}"
    );
    assert!(text.contains("hint: add DNS records"), "{text}");

    // A vhost edited by hand: drift, and only that (nginx still accepts it).
    let vhost = sb.path("/etc/nginx/sites-available/php.example.test.conf");
    let mut text = std::fs::read_to_string(&vhost).unwrap();
    text.push_str("# an emergency fix\n");
    std::fs::write(&vhost, text).unwrap();
    let v = doctor(&sb);
    assert_eq!(v["ok"], false, "{v:#}");
    assert_eq!(
        not_ok(&v),
        vec![
            pair("managed-files", "fail"),
            pair("name-resolution", "warn")
        ],
        "{v:#}"
    );
    let drift = checks(&v, "managed-files")[0];
    assert_eq!(
        drift["message"],
        format!("{} was edited since lempctl wrote it", vhost.display()),
        "{v:#}"
    );
    assert!(
        drift["hint"]
            .as_str()
            .unwrap()
            .contains("lempctl apply --force"),
        "{v:#}"
    );
    let (code, _, err) = sb.json(&["apply", "--force"]);
    assert_eq!(code, 0, "{err}");

    // A link planted by the site user in place of its logs directory: reported, not followed.
    let logs = sb.path("/srv/www/php.example.test/logs");
    std::fs::rename(&logs, logs.with_extension("old")).unwrap();
    std::os::unix::fs::symlink("/etc", &logs).unwrap();
    let etc_mode = std::fs::metadata("/etc").unwrap().permissions().mode();
    let v = doctor(&sb);
    assert_eq!(
        not_ok(&v),
        vec![pair("permissions", "fail"), pair("name-resolution", "warn")],
        "{v:#}"
    );
    let p = checks(&v, "permissions")[0];
    assert_eq!(
        p["message"],
        format!(
            "{} is a symbolic link, not a directory (a site user may have planted it)",
            logs.display()
        ),
        "{v:#}"
    );
    assert_eq!(
        std::fs::metadata("/etc").unwrap().permissions().mode(),
        etc_mode
    );
    std::fs::remove_file(&logs).unwrap();
    std::fs::rename(logs.with_extension("old"), &logs).unwrap();

    // nginx's master with too few open files for its logs: found through /proc, with the fix.
    let pid = std::fs::read_to_string(sb.path("/run/nginx.pid")).unwrap();
    let set = std::process::Command::new("prlimit")
        .args(["--pid", pid.trim(), "--nofile=64:64"])
        .status()
        .unwrap();
    assert!(set.success());
    let v = doctor(&sb);
    assert_eq!(
        not_ok(&v),
        vec![pair("open-files", "fail"), pair("name-resolution", "warn")],
        "{v:#}"
    );
    let nofile = checks(&v, "open-files")[0];
    assert!(
        nofile["message"].as_str().unwrap().contains(&format!(
            "(pid {}) open-files limit is 64; 1 site(s) need 66",
            pid.trim()
        )),
        "{v:#}"
    );
    assert!(
        nofile["hint"]
            .as_str()
            .unwrap()
            .contains("worker_rlimit_nofile 65536;"),
        "{v:#}"
    );
    // the human output shows the hint under the failure, and exits 1
    let out = sb.lempctl().arg("doctor").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("fail open-files"), "{text}");
    assert!(text.contains("hint: raise it to 65536"), "{text}");
}

#[test]
fn credentials_opened_up_and_mariadb_stopped_each_fail_their_own_check() {
    require!(DB);
    let sb = Sandbox::with_db().site("shop.yaml", DB_SITE).started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let v = doctor(&sb);
    assert_eq!(not_ok(&v), vec![pair("name-resolution", "warn")], "{v:#}");
    assert_eq!(checks(&v, "mariadb")[0]["result"], "ok", "{v:#}");

    // The site's secrets (its database password) readable by everyone.
    let secrets = sb.path("/var/lib/lempctl/credentials/shop.doctor.test.json");
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
    let v = doctor(&sb);
    assert_eq!(
        not_ok(&v),
        vec![pair("permissions", "fail"), pair("name-resolution", "warn")],
        "{v:#}"
    );
    let p = checks(&v, "permissions")[0];
    assert_eq!(
        p["message"],
        format!(
            "{} is mode 0644; lempctl allows at most 0600",
            secrets.display()
        ),
        "{v:#}"
    );
    assert_eq!(
        p["hint"],
        format!("chmod 600 {}", secrets.display()),
        "{v:#}"
    );
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();

    // MariaDB stopped (only it: nginx and PHP-FPM keep running).
    let pid = std::fs::read_to_string(sb.path("/run/mysqld/mysqld.pid")).unwrap();
    let killed = std::process::Command::new("kill")
        .arg(pid.trim())
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::path::Path::new(&format!("/proc/{}", pid.trim())).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "mariadbd did not stop"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let v = doctor(&sb);
    assert_eq!(
        not_ok(&v),
        vec![pair("mariadb", "fail"), pair("name-resolution", "warn")],
        "{v:#}"
    );
    let m = checks(&v, "mariadb")[0];
    assert!(
        m["message"].as_str().unwrap().contains("unreachable"),
        "{v:#}"
    );
    assert!(
        m["hint"].as_str().unwrap().starts_with("start MariaDB"),
        "{v:#}"
    );
}

#[test]
fn a_missing_backup_password_file_fails_the_backup_check() {
    let (sb, _repo) = require!(backup::setup());
    let (code, v, err) = sb.json(&["backup", "run", backup::NAME]);
    assert_eq!(code, 0, "{err}\n{v}");
    let v = doctor(&sb);
    assert_eq!(not_ok(&v), vec![pair("name-resolution", "warn")], "{v:#}");
    assert_eq!(checks(&v, "backup-repository")[0]["result"], "ok", "{v:#}");
    assert_eq!(checks(&v, "mariadb")[0]["result"], "ok", "{v:#}");

    let password = sb.path("/var/lib/lempctl/backup/lempctl.password");
    let kept = std::fs::read(&password).unwrap();
    std::fs::remove_file(&password).unwrap();
    let v = doctor(&sb);
    assert_eq!(
        not_ok(&v),
        vec![
            pair("backup-repository", "fail"),
            pair("name-resolution", "warn")
        ],
        "{v:#}"
    );
    let b = checks(&v, "backup-repository")[0];
    assert_eq!(
        b["message"],
        format!(
            "the repository password file {} is missing",
            password.display()
        ),
        "{v:#}"
    );
    assert!(
        b["hint"].as_str().unwrap().starts_with(&format!(
            "restore {} from your safe copy",
            password.display()
        )),
        "{v:#}"
    );

    // a wrong password: restic's own words
    std::fs::write(&password, "not the password\n").unwrap();
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
    let v = doctor(&sb);
    let b = checks(&v, "backup-repository")[0];
    assert_eq!(b["result"], "fail", "{v:#}");
    assert!(
        b["message"].as_str().unwrap().contains("cannot be opened"),
        "{v:#}"
    );
    std::fs::write(&password, kept).unwrap();
    let v = doctor(&sb);
    assert_eq!(checks(&v, "backup-repository")[0]["result"], "ok", "{v:#}");
}

/// The venv's Python (`scripts/install-deps`), which has `cryptography` (moto needs it).
fn venv_python() -> Need<std::path::PathBuf> {
    let p = std::path::PathBuf::from("/opt/lempctl-venv/bin/python3");
    if p.is_file() {
        Ok(p)
    } else {
        Err(missing(
            "/opt/lempctl-venv/bin/python3 not installed (scripts/install-deps makes the venv)",
        ))
    }
}

/// A self-signed certificate for `name` valid from `offset` seconds from now, and its key (0600).
fn certificate(
    python: &std::path::Path,
    name: &str,
    offset: i64,
    cert: &std::path::Path,
    key: &std::path::Path,
) {
    let script = r#"
import datetime, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
name, offset, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
k = ec.generate_private_key(ec.SECP256R1())
start = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset)
subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
c = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
     .public_key(k.public_key()).serial_number(x509.random_serial_number())
     .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=60))
     .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
     .sign(k, hashes.SHA256()))
open(key, "wb").write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
open(cert, "wb").write(c.public_bytes(serialization.Encoding.PEM))
"#;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .args([name, &offset.to_string()])
        .arg(cert)
        .arg(key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_certificate_valid_only_from_tomorrow_means_the_clock_is_behind() {
    let (_, python) = require!(WEB, venv_python());
    let sb = Sandbox::new();
    let (cert, key) = (
        sb.path("/etc/ssl/doctor/fullchain.pem"),
        sb.path("/etc/ssl/doctor/privkey.pem"),
    );
    std::fs::create_dir_all(cert.parent().unwrap()).unwrap();
    certificate(&python, "c.doctor.test", 86_400, &cert, &key);
    let sb = sb
        .site(
            "c.yaml",
            "name: c.doctor.test\nkind: static\ntls:\n  certificate: /etc/ssl/doctor/fullchain.pem\n  key: /etc/ssl/doctor/privkey.pem\n",
        )
        .started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let v = doctor(&sb);
    assert_eq!(
        not_ok(&v),
        vec![pair("name-resolution", "warn"), pair("clock", "fail")],
        "{v:#}"
    );
    let clock = checks(&v, "clock")[0];
    assert!(
        clock["message"]
            .as_str()
            .unwrap()
            .starts_with("clock behind: c.doctor.test's certificate is valid from"),
        "{v:#}"
    );
    assert!(
        clock["hint"].as_str().unwrap().contains("timedatectl"),
        "{v:#}"
    );
    // a certificate valid since an hour ago: the clock is fine
    certificate(&python, "c.doctor.test", -3_600, &cert, &key);
    let v = doctor(&sb);
    assert_eq!(not_ok(&v), vec![pair("name-resolution", "warn")], "{v:#}");
    assert_eq!(
        checks(&v, "clock")[0]["message"],
        "1 certificate(s) valid from before now",
        "{v:#}"
    );
}

#[test]
fn a_timer_systemd_rejects_fails_the_unit_check_and_shows_as_drift() {
    require!(WEB, &["systemd-analyze"]);
    let sb = Sandbox::new();
    let conf = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        format!("{text}scheduler: systemd\nschedule:\n  apply: \"@daily\"\n"),
    )
    .unwrap();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let v = doctor(&sb);
    assert_eq!(not_ok(&v), vec![], "{v:#}");
    assert_eq!(
        checks(&v, "systemd-units")[0]["message"],
        "systemd-analyze verify passed for 2 managed unit(s)",
        "{v:#}"
    );
    // a typo by hand in the timer: systemd's complaint, and the edit itself
    let timer = sb.path("/etc/systemd/system/lempctl-apply.timer.d/schedule.conf");
    let text = std::fs::read_to_string(&timer)
        .unwrap()
        .replace("OnCalendar", "OnCalender");
    std::fs::write(&timer, text).unwrap();
    let v = doctor(&sb);
    assert_eq!(
        not_ok(&v),
        vec![pair("systemd-units", "fail"), pair("managed-files", "fail")],
        "{v:#}"
    );
    let units = checks(&v, "systemd-units")[0];
    assert!(
        units["message"].as_str().unwrap().contains("OnCalender"),
        "{v:#}"
    );
    assert_eq!(
        checks(&v, "managed-files")[0]["message"],
        format!("{} was edited since lempctl wrote it", timer.display()),
        "{v:#}"
    );
}

/// A fail2ban filter and the rotation file edited into something their programs reject, an ini
/// file that shrinks the opcache below the sites' budget, and a PHP-FPM master that kills
/// requests on reload: each is its own check's finding, with its hint.
#[test]
fn fail2ban_and_logrotate_rejections_a_small_opcache_and_an_instant_reload_are_each_reported() {
    require!(WEB, &["fail2ban-client", "logrotate"]);
    let sb = Sandbox::new().site("php.yaml", PHP_SITE).started();
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(
        &g,
        format!("{text}fail2ban:\n  banaction: dummy\n  backend: polling\n"),
    )
    .unwrap();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let v = doctor(&sb);
    assert_eq!(not_ok(&v), vec![pair("name-resolution", "warn")], "{v:#}");
    assert_eq!(checks(&v, "fail2ban-config")[0]["result"], "ok", "{v:#}");

    // a jail whose filter does not exist: fail2ban-config fails (and the file is drift)
    let jails = sb.path("/etc/fail2ban/jail.d/lempctl.local");
    let good = std::fs::read_to_string(&jails).unwrap();
    std::fs::write(
        &jails,
        format!("{good}\n[lempctl-typo]\nenabled = true\nfilter = no-such-filter\nlogpath = /nonexistent.log\n"),
    )
    .unwrap();
    let v = doctor(&sb);
    assert_eq!(
        not_ok(&v),
        vec![
            pair("fail2ban-config", "fail"),
            pair("managed-files", "fail"),
            pair("name-resolution", "warn")
        ],
        "{v:#}"
    );
    let f2b = checks(&v, "fail2ban-config")[0];
    assert!(
        f2b["hint"].as_str().unwrap().contains("fail2ban-client -c"),
        "{v:#}"
    );
    std::fs::write(&jails, good).unwrap();

    // a rotation file logrotate rejects
    let rotation = sb.path("/etc/logrotate.d/lempctl");
    let good = std::fs::read_to_string(&rotation).unwrap();
    std::fs::write(&rotation, format!("{good}\nnot a directive {{\n")).unwrap();
    let v = doctor(&sb);
    assert_eq!(
        not_ok(&v),
        vec![
            pair("logrotate-config", "fail"),
            pair("managed-files", "fail"),
            pair("name-resolution", "warn")
        ],
        "{v:#}"
    );
    assert!(
        checks(&v, "logrotate-config")[0]["hint"]
            .as_str()
            .unwrap()
            .contains("logrotate -d"),
        "{v:#}"
    );
    std::fs::write(&rotation, good).unwrap();

    // a later ini file that overrides lempctl's opcache size
    let small = sb.path("/etc/php/8.2/fpm/conf.d/99-small-opcache.ini");
    std::fs::write(&small, "opcache.memory_consumption=32\n").unwrap();
    let v = doctor(&sb);
    assert_eq!(
        not_ok(&v),
        vec![pair("opcache", "warn"), pair("name-resolution", "warn")],
        "{v:#}"
    );
    let op = checks(&v, "opcache")[0];
    assert!(
        op["message"]
            .as_str()
            .unwrap()
            .contains("opcache has 32 MiB for 1 site(s)")
            && op["hint"]
                .as_str()
                .unwrap()
                .contains("90-lempctl-opcache.ini"),
        "{v:#}"
    );
    std::fs::remove_file(&small).unwrap();

    // PHP-FPM's default: a reload kills the requests still running
    let fpm = sb.path("/etc/php/8.2/fpm/php-fpm.conf");
    let good = std::fs::read_to_string(&fpm).unwrap();
    assert!(good.contains("process_control_timeout = 10s"), "{good}");
    std::fs::write(
        &fpm,
        good.replace(
            "process_control_timeout = 10s",
            "process_control_timeout = 0",
        ),
    )
    .unwrap();
    let v = doctor(&sb);
    assert_eq!(
        not_ok(&v),
        vec![
            pair("php-fpm-reload", "warn"),
            pair("name-resolution", "warn")
        ],
        "{v:#}"
    );
    assert!(
        checks(&v, "php-fpm-reload")[0]["hint"]
            .as_str()
            .unwrap()
            .contains("process_control_timeout = 10s"),
        "{v:#}"
    );
    std::fs::write(&fpm, good).unwrap();
    let v = doctor(&sb);
    assert_eq!(not_ok(&v), vec![pair("name-resolution", "warn")], "{v:#}");
}
