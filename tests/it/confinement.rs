//! Hostile site code: site PHP that lempctl runs (`wp cron`) is confined like the site's pool, and
//! one site cannot reach another's files through opcache, nginx symlinks or the pool's settings.
//! The attacker is always the site's own code, planted in its tree as the site user.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const WP: &str = "name: blog.wp.test\nkind: wordpress\nwordpress:\n  title: Confined\n  admin_email: owner@wp.test\n";

/// A mu-plugin WordPress loads for wp-cron.php: it reports what it can see and do into the site's
/// tmp directory, then behaves as `tmp/probe-mode` says (`report`, `sleep`, `flood`).
const PROBE: &str = r#"<?php
if (!defined('DOING_CRON')) {
    return;
}
$dir = dirname(__DIR__, 3) . '/tmp';
$mode = trim((string) @file_get_contents($dir . '/probe-mode')) ?: 'report';
$r = [
    'env' => getenv(),
    'server' => $_SERVER,
    'exec' => function_exists('exec'),
    'shell_exec' => is_callable('shell_exec'),
    'putenv' => function_exists('putenv'),
    'hostname' => @file_get_contents('/etc/hostname'),
    'outside' => @file_get_contents(getenv('HOME') . '/../../../outside.txt'),
    'open_basedir' => ini_get('open_basedir'),
    'pid' => getmypid(),
    'sid' => posix_getsid(0),
    'tty' => posix_ttyname(STDIN),
    'isatty' => posix_isatty(STDOUT),
    'uid' => posix_geteuid(),
    'groups' => posix_getgroups(),
];
file_put_contents($dir . '/probe.json.tmp', json_encode($r));
rename($dir . '/probe.json.tmp', $dir . '/probe.json');
if ($mode === 'sleep') {
    sleep(120);
}
if ($mode === 'flood') {
    echo str_repeat('x', 3 << 20);
}
"#;

const MARKER: &str = "lempctl-secret-marker-9d1f";

fn owner_of(p: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap();
    (m.uid(), m.gid())
}

/// `lempctl wp cron` inside a pseudo-terminal (`script`), so the caller has a controlling terminal
/// that site PHP must not inherit, with secrets in the caller's environment.
fn cron_in_a_terminal(sb: &Sandbox) -> Command {
    let mut c = Command::new("script");
    c.args(["-q", "-e", "-c"])
        .arg(format!(
            "{} --root {} wp cron blog.wp.test",
            bin().display(),
            sb.root().display()
        ))
        .arg("/dev/null")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .env("NO_COLOR", "1")
        .env("LEMPCTL_SECRET_TEST", MARKER)
        .env("AWS_SECRET_ACCESS_KEY", MARKER)
        .stdin(Stdio::null());
    c
}

fn probe(tmp: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(tmp.join("probe.json")).unwrap()).unwrap()
}

fn set_mode(tmp: &Path, mode: &str, owner: (u32, u32)) {
    let f = tmp.join("probe-mode");
    std::fs::write(&f, mode).unwrap();
    std::os::unix::fs::chown(&f, Some(owner.0), Some(owner.1)).unwrap();
    let _ = std::fs::remove_file(tmp.join("probe.json"));
}

#[test]
fn site_php_run_by_wp_cron_is_confined_and_killed_after_the_timeout() {
    require!(
        &[
            "nginx",
            "php-fpm8.2",
            "php8.2",
            "mariadbd",
            "script",
            "useradd",
        ],
        wordpress()
    );
    let sb = Sandbox::with_db().site("blog.yaml", WP).started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");

    let site_dir = sb.path("/srv/www/blog.wp.test");
    let tmp = site_dir.join("tmp");
    let owner = owner_of(&tmp);
    // The attacker's plugin, planted as the site user.
    let mu = site_dir.join("htdocs/wp-content/mu-plugins");
    std::fs::create_dir_all(&mu).unwrap();
    std::os::unix::fs::chown(&mu, Some(owner.0), Some(owner.1)).unwrap();
    std::fs::write(mu.join("probe.php"), PROBE).unwrap();
    std::os::unix::fs::chown(mu.join("probe.php"), Some(owner.0), Some(owner.1)).unwrap();
    // World-readable, outside the site's tree: only open_basedir stands in the way.
    std::fs::write(sb.path("/outside.txt"), "OUTSIDE-CONTENT").unwrap();
    std::fs::set_permissions(sb.path("/outside.txt"), PermissionsExt::from_mode(0o644)).unwrap();

    // 1. What site PHP sees.
    set_mode(&tmp, "report", owner);
    let out = cron_in_a_terminal(&sb).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r = probe(&tmp);
    let all = r.to_string();
    assert!(
        !all.contains(MARKER) && !all.contains("AWS_SECRET") && !all.contains("LEMPCTL_SECRET"),
        "the caller's environment reached site PHP: {all}"
    );
    let env: Vec<&str> = r["env"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(env, ["HOME", "HTTP_HOST", "LANG", "PATH"], "{all}");
    assert_eq!(r["env"]["HOME"], site_dir.to_str().unwrap());
    for f in ["exec", "shell_exec", "putenv"] {
        assert_eq!(r[f], false, "{f} is callable: {all}");
    }
    assert_eq!(r["hostname"], false, "read /etc/hostname: {all}");
    assert_eq!(r["outside"], false, "read outside open_basedir: {all}");
    assert_eq!(r["open_basedir"], format!("{}/", site_dir.display()));
    assert_eq!(r["sid"], r["pid"], "not a session of its own: {all}");
    assert_eq!(r["tty"], false, "{all}");
    assert_eq!(r["isatty"], false, "{all}");
    assert_eq!(r["uid"], owner.0);
    assert_eq!(r["groups"], serde_json::json!([owner.1]), "{all}");

    // 2. Seen from outside while it runs, then killed after wordpress.php_timeout.
    let conf = sb.path("/etc/lempctl/lempctl.yaml");
    let mut yaml = std::fs::read_to_string(&conf).unwrap();
    yaml.push_str("wordpress:\n  php_timeout: 4\n");
    std::fs::write(&conf, yaml).unwrap();
    set_mode(&tmp, "sleep", owner);
    let start = Instant::now();
    let child = cron_in_a_terminal(&sb)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while !tmp.join("probe.json").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the probe never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = probe(&tmp)["pid"].as_u64().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // fields after the name: state ppid pgrp session tty_nr
    assert_eq!(fields[3], pid.to_string(), "session: {stat}");
    assert_eq!(fields[4], "0", "a controlling terminal: {stat}");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        !String::from_utf8_lossy(&environ).contains(MARKER),
        "secret in the environment"
    );
    let out = child.wait_with_output().unwrap();
    let elapsed = start.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("timed out after 4 s"), "{text}");
    assert!(
        elapsed < Duration::from_secs(25),
        "took {elapsed:?}: {text}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let left = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        left.is_empty()
            || left
                .rsplit(')')
                .next()
                .unwrap()
                .trim_start()
                .starts_with('Z'),
        "the PHP process survived: {left}"
    );

    // 3. A flood of output is cut off.
    set_mode(&tmp, "flood", owner);
    let out = cron_in_a_terminal(&sb).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("output over 1048576 bytes"), "{text}");
    assert!(text.len() < 200_000, "the flood was relayed");
}

/// Writes `text` at `path` as `user` (the site's own code planting a file in its tree).
fn plant_as(user: &str, path: &Path, text: &str, mode: u32) {
    let out = Command::new("runuser")
        .args([
            "-u",
            user,
            "--",
            "sh",
            "-c",
            "cat > \"$0\" && chmod \"$1\" \"$0\"",
        ])
        .arg(path)
        .arg(format!("{mode:o}"))
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

fn link_as(user: &str, target: &Path, link: &Path) {
    let st = Command::new("runuser")
        .args(["-u", user, "--", "ln", "-s"])
        .arg(target)
        .arg(link)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Site A's PHP, requested over HTTP: what it can get of site B's file and of the pool's settings.
const ATTACK: &str = r#"<?php
$b = $_GET['b'];
$secret = null;
ob_start();
$r = ['include_returned' => @include $b];
$r['include_printed'] = ob_get_clean();
$r['include_secret'] = $secret;
$r['read'] = @file_get_contents($b);
$st = @opcache_get_status(true);
$r['opcache_scripts'] = is_array($st) ? array_keys($st['scripts'] ?? []) : false;
$r['opcache_cached'] = @opcache_is_script_cached($b);
$r['putenv'] = function_exists('putenv');
try {
    putenv('LD_PRELOAD=/tmp/evil.so');
    $r['putenv_call'] = 'called';
} catch (Throwable $e) {
    $r['putenv_call'] = $e->getMessage();
}
$r['mail'] = function_exists('mail');
$r['sendmail'] = ini_get('sendmail_path');
$r['ini_set'] = @ini_set('sendmail_path', '/tmp/evil -t');
$r['sendmail_after'] = ini_get('sendmail_path');
echo json_encode($r);
"#;

#[test]
fn one_site_cannot_reach_another_through_opcache_symlinks_or_the_pool_settings() {
    require!(&["nginx", "php-fpm8.2", "useradd", "runuser"]);
    let sb = Sandbox::new()
        .site("a.yaml", "name: a.example.test\nkind: php\n")
        .site("b.yaml", "name: b.example.test\nkind: php\n")
        .site("s.yaml", "name: s.example.test\nkind: static\n")
        .started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let user = |site: &str| sb.show(site)["user"].as_str().unwrap().to_owned();
    let (ua, ub, us) = (
        user("a.example.test"),
        user("b.example.test"),
        user("s.example.test"),
    );
    let a = sb.path("/srv/www/a.example.test/htdocs");
    let b = sb.path("/srv/www/b.example.test/htdocs");
    let s = sb.path("/srv/www/s.example.test/htdocs");

    // B's configuration, readable by B only, is compiled into the shared opcache by B's own request.
    let secret = b.join("secret.php");
    plant_as(
        &ub,
        &secret,
        "<?php $secret = 'B-SECRET-42'; echo 'B-PRINTED';\n",
        0o600,
    );
    let r = sb.get("b.example.test", "/secret.php");
    assert!(r.status == 200 && r.body.contains("B-PRINTED"), "{r:?}");

    plant_as(&ua, &a.join("attack.php"), ATTACK, 0o640);
    let r = sb.get(
        "a.example.test",
        &format!("/attack.php?b={}", secret.display()),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        !r.body.contains("B-SECRET-42") && !r.body.contains("B-PRINTED"),
        "{}",
        r.body
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["include_returned"], false, "{v}");
    assert_eq!(v["read"], false, "{v}");
    assert_eq!(v["opcache_cached"], false, "{v}");
    assert!(
        !v["opcache_scripts"].to_string().contains("b.example.test"),
        "opcache lists B's scripts to A: {v}"
    );
    // The LD_PRELOAD route: putenv is gone, mail stays, its program is the pool's.
    assert_eq!(v["putenv"], false, "{v}");
    assert_eq!(
        v["putenv_call"], "Call to undefined function putenv()",
        "{v}"
    );
    assert_eq!(v["mail"], true, "{v}");
    assert_eq!(v["sendmail"], "/usr/sbin/sendmail -t -i", "{v}");
    assert_eq!(v["ini_set"], false, "{v}");
    assert_eq!(v["sendmail_after"], "/usr/sbin/sendmail -t -i", "{v}");

    // A link to B's script in A's tree: PHP-FPM opens it as A, under A's open_basedir.
    link_as(&ua, &secret, &a.join("linked.php"));
    let r = sb.get("a.example.test", "/linked.php");
    assert!(
        !r.body.contains("B-SECRET-42") && !r.body.contains("B-PRINTED"),
        "{r:?}"
    );

    // nginx and links: B's file readable by nginx's group, linked from A's and S's trees.
    let shared = b.join("shared.txt");
    plant_as(&ub, &shared, "B-SHARED-CONTENT\n", 0o640);
    let r = sb.get("b.example.test", "/shared.txt");
    assert!(
        r.status == 200 && r.body.contains("B-SHARED-CONTENT"),
        "{r:?}"
    );
    link_as(&us, &shared, &s.join("steal.txt"));
    let r = sb.get("s.example.test", "/steal.txt");
    assert!(
        (r.status == 403 || r.status == 404) && !r.body.contains("B-SHARED-CONTENT"),
        "{r:?}"
    );
    link_as(&ua, &shared, &a.join("steal.txt"));
    let r = sb.get("a.example.test", "/steal.txt");
    assert!(!r.body.contains("B-SHARED-CONTENT"), "{r:?}");
    // A link to the site's own file still works.
    plant_as(&us, &s.join("own.txt"), "S-OWN\n", 0o644);
    link_as(&us, &s.join("own.txt"), &s.join("mine.txt"));
    let r = sb.get("s.example.test", "/mine.txt");
    assert!(
        r.status == 200 && r.body.contains("S-OWN"),
        "{r:?}\n{}",
        std::fs::read_to_string(sb.path("/var/log/nginx/s.example.test.error.log"))
            .unwrap_or_default()
    );
}
