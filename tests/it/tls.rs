//! TLS from the sysadmin's side, against a real ACME CA (Debian's pebble) and the sandbox's real
//! nginx: a site asks for `tls: { acme: true }`, `apply` gets its certificate over HTTP-01 and
//! switches it to HTTPS; renewal, refusals and the certificate monitor.

use std::process::Command;

use crate::support::named::Named;
use crate::support::pebble::Pebble;

use crate::support::*;

const NEED: &[&str] = &[
    "nginx",
    "php-fpm8.2",
    "useradd",
    "pebble",
    "curl",
    "openssl",
];

fn with_acme(sb: &Sandbox, yaml: &str) {
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(&g, format!("{text}{yaml}")).unwrap();
}

/// `curl https://HOST:PORT/PATH` trusting only `root`, resolving HOST to 127.0.0.1: (status, body).
fn https(sb: &Sandbox, root: &std::path::Path, host: &str, path: &str) -> (String, String) {
    let port = sb.port + 1;
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
        .arg(root)
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_owned(), body.to_owned())
}

fn serial(sb: &Sandbox, host: &str) -> String {
    let (code, v, err) = sb.json(&["cert", "check", host]);
    assert!(code == 0 || code == 1, "{err}");
    v["sites"][0]["live"]["serial"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn acme_sites_get_certificates_and_switch_to_https_in_one_apply() {
    require!(NEED);
    let sb = Sandbox::new().started();
    let pebble = require!(Pebble::start(&sb.path("/pebble"), sb.port, 864_000));
    with_acme(&sb, &pebble.acme_yaml());
    sb.write_site(
        "a.tls.test.yaml",
        "name: a.tls.test\nkind: php\naliases: [www.a.tls.test]\ntls:\n  acme: true\n",
    );
    sb.write_site(
        "b.tls.test.yaml",
        "name: b.tls.test\nkind: static\ntls:\n  acme: true\n  key_type: rsa-2048\n  redirect: false\n",
    );
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");
    std::fs::write(
        sb.path("/srv/www/a.tls.test/htdocs/t.php"),
        "<?php echo 'php over tls';",
    )
    .unwrap();
    std::fs::write(
        sb.path("/srv/www/b.tls.test/htdocs/index.html"),
        "static over tls",
    )
    .unwrap();
    let root = pebble.root();
    assert_eq!(
        https(&sb, &root, "a.tls.test", "/t.php"),
        ("200".into(), "php over tls".into())
    );
    assert_eq!(
        https(&sb, &root, "www.a.tls.test", "/").0,
        "200",
        "the alias is on the certificate"
    );
    assert_eq!(
        https(&sb, &root, "b.tls.test", "/"),
        ("200".into(), "static over tls".into())
    );
    // HTTP redirects to HTTPS, except the challenge path; b asked for no redirect
    let r = http_get(sb.port, "a.tls.test", "/", &[]);
    assert_eq!(r.status, 301);
    assert!(
        r.headers
            .contains(&format!("Location: https://a.tls.test:{}/", sb.port + 1)),
        "{}",
        r.headers
    );
    assert_eq!(
        http_get(
            sb.port,
            "a.tls.test",
            "/.well-known/acme-challenge/none",
            &[]
        )
        .status,
        404
    );
    assert_eq!(http_get(sb.port, "b.tls.test", "/", &[]).status, 200);
    // the files: key root-only, chain by pebble, ECDSA by default and RSA where asked
    let key = sb.path("/var/lib/lempctl/certs/a.tls.test/privkey.pem");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let (code, list, err) = sb.json(&["cert", "list"]);
    assert_eq!(code, 0, "{err}");
    let entries = list.as_array().unwrap();
    let a = entries.iter().find(|e| e["site"] == "a.tls.test").unwrap();
    let b = entries.iter().find(|e| e["site"] == "b.tls.test").unwrap();
    assert_eq!(
        (a["source"].as_str(), a["key"].as_str()),
        (Some("acme"), Some("ECDSA P-256")),
        "{a}"
    );
    assert_eq!(b["key"], "RSA 2048", "{b}");
    assert!(a["issuer"].as_str().unwrap().contains("Pebble"), "{a}");
    assert!(a["days_left"].as_i64().unwrap() >= 9, "{a}");
    let (_, st, _) = sb.json(&["status"]);
    let sa = st["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "a.tls.test")
        .unwrap()
        .clone();
    assert!(sa["tls_days_left"].as_i64().unwrap() >= 9, "{sa}");
    // a second apply changes nothing and issues nothing
    let before = serial(&sb, "a.tls.test");
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["changed"], false, "{v}");
    assert_eq!(serial(&sb, "a.tls.test"), before);
    // not due: renew leaves it; --force renews, reloads nginx once and the listener serves it
    let (code, v, err) = sb.json(&["cert", "renew"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        v["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["result"] == "not-due"),
        "{v}"
    );
    assert_eq!(v["reloaded"], false);
    let (code, v, err) = sb.json(&["cert", "renew", "--force", "a.tls.test"]);
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["certificates"][0]["result"], "renewed", "{v}");
    assert_eq!(v["reloaded"], true, "{v}");
    let after = serial(&sb, "a.tls.test");
    assert!(!after.is_empty() && after != before, "{before} → {after}");
}

#[test]
fn a_certificate_inside_its_renewal_window_is_renewed_and_an_expired_one_is_critical() {
    require!(NEED);
    let sb = Sandbox::new().started();
    // 12-second certificates: due after about 7 s, expired after 12 s
    let pebble = require!(Pebble::start(&sb.path("/pebble"), sb.port, 12));
    with_acme(&sb, &pebble.acme_yaml());
    sb.write_site(
        "c.tls.test.yaml",
        "name: c.tls.test\nkind: static\ntls:\n  acme: true\n",
    );
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");
    let first = serial(&sb, "c.tls.test");
    std::thread::sleep(std::time::Duration::from_secs(9));
    let (code, v, err) = sb.json(&["cert", "renew"]);
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["certificates"][0]["result"], "renewed", "{v}");
    assert_ne!(serial(&sb, "c.tls.test"), first);
    // renewal stops silently (nobody runs it): the monitor notices, and exits 1 once expired
    std::thread::sleep(std::time::Duration::from_secs(13));
    let (code, v, _) = sb.json(&["cert", "check", "--no-live"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["sites"][0]["level"], "critical", "{v}");
    assert!(
        v["sites"][0]["problems"].to_string().contains("expired"),
        "{v}"
    );
}

#[test]
fn a_refusal_keeps_the_site_serving_quotes_the_ca_and_backs_off() {
    require!(NEED);
    let sb = Sandbox::new().started();
    // pebble validates on a port where nothing listens: every challenge fails
    let pebble = require!(Pebble::start(&sb.path("/pebble"), free_port(), 864_000));
    with_acme(&sb, &pebble.acme_yaml());
    sb.write_site(
        "d.tls.test.yaml",
        "name: d.tls.test\nkind: static\ntls:\n  acme: true\n",
    );
    let out = sb.lempctl().arg("apply").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("d.tls.test: no certificate"), "{err}");
    assert!(
        err.contains("urn:ietf:params:acme:error:"),
        "the CA's problem is quoted: {err}"
    );
    assert!(
        !sb.path("/var/lib/lempctl/certs/d.tls.test/fullchain.pem")
            .exists()
    );
    std::fs::write(
        sb.path("/srv/www/d.tls.test/htdocs/index.html"),
        "still here",
    )
    .unwrap();
    let r = http_get(sb.port, "d.tls.test", "/", &[]);
    assert_eq!(
        (r.status.code(), r.body.as_str()),
        (Some(200), "still here"),
        "served over HTTP"
    );
    // the next run does not ask the CA again before the backoff is over, and says when it will
    let (code, v, _) = sb.json(&["cert", "issue", "d.tls.test"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["certificates"][0]["result"], "waiting", "{v}");
    assert!(
        v["certificates"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("next try after"),
        "{v}"
    );
}

#[test]
fn the_monitor_mails_once_per_change_and_catches_a_missed_reload() {
    require!(NEED);
    let sb = Sandbox::new().started();
    let pebble = require!(Pebble::start(&sb.path("/pebble"), sb.port, 864_000));
    let smtp = require!(SmtpSink::start(&sb.path("/smtp")));
    with_acme(&sb, &pebble.acme_yaml());
    sb.write_site(
        "e.tls.test.yaml",
        "name: e.tls.test\nkind: static\ntls:\n  acme: true\n",
    );
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");
    let root = pebble.root();
    // 10-day certificates are inside a 30-day warning: one mail, the metric, exit 0
    with_acme(
        &sb,
        &format!(
            "certificates:\n  warn_days: 30\n  critical_days: 2\n  trust: {}\n  textfile_dir: /var/lib/node_exporter\nalerts:\n  smtp_host: 127.0.0.1\n  smtp_port: {}\n  from: lempctl@tls.test\n  to: [admin@tls.test]\n",
            root.display(),
            smtp.port
        ),
    );
    let (code, v, err) = sb.json(&["cert", "check"]);
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["sites"][0]["level"], "warning", "{v}");
    assert_eq!(v["mailed"], true, "{v}");
    let prom =
        std::fs::read_to_string(sb.path("/var/lib/node_exporter/lempctl_cert.prom")).unwrap();
    assert!(
        prom.contains(
            "lempctl_cert_expiry_seconds{site=\"e.tls.test\",name=\"e.tls.test\",source=\"file\"}"
        ),
        "{prom}"
    );
    assert!(
        prom.contains("lempctl_cert_status{site=\"e.tls.test\"} 1"),
        "{prom}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while smtp
        .received()
        .matches("Subject: lempctl: certificates")
        .count()
        < 1
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no mail: {}",
            smtp.received()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // no change, no second mail
    let (code, v, _) = sb.json(&["cert", "check"]);
    assert_eq!((code, &v["mailed"]), (0, &serde_json::json!(false)), "{v}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        smtp.received()
            .matches("Subject: lempctl: certificates")
            .count(),
        1
    );
    // a new certificate written but not loaded by nginx: reported, critical
    let cert = sb.path("/var/lib/lempctl/certs/e.tls.test/fullchain.pem");
    let key = sb.path("/var/lib/lempctl/certs/e.tls.test/privkey.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "60",
        ])
        .args([
            "-subj",
            "/CN=e.tls.test",
            "-addext",
            "subjectAltName=DNS:e.tls.test",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(status.status.success());
    let (code, v, _) = sb.json(&["cert", "check"]);
    assert_eq!(code, 1, "{v}");
    let problems = v["sites"][0]["problems"].to_string();
    assert!(problems.contains("serves another certificate"), "{v}");
    assert!(problems.contains("not trusted"), "a self-signed file: {v}");
}

#[test]
fn bad_acme_settings_are_refused_and_change_nothing() {
    require!(&["nginx"]);
    for (yaml, site, want) in [
        (
            "acme:\n  directory: http://ca.example/dir\n",
            "",
            "`acme.directory`",
        ),
        (
            "acme:\n  directory: https://ca.example/dir\n  email: not-an-address\n",
            "",
            "`acme.email`",
        ),
        (
            "acme:\n  directory: https://ca.example/dir\n  key_type: dsa\n",
            "",
            "`acme.key_type`",
        ),
        ("", "tls:\n  acme: true\n", "an `acme` section"),
        (
            "acme:\n  directory: https://ca.example/dir\n",
            "tls:\n  acme: true\n  certificate: /etc/ssl/x.pem\n  key: /etc/ssl/x.key\n",
            "`tls.certificate`",
        ),
        (
            "acme:\n  directory: https://ca.example/dir\n",
            "tls:\n  acme: true\n  key_type: rsa-1024\n",
            "`tls.key_type`",
        ),
        ("", "tls:\n  redirect: true\n", "`tls.certificate`"),
        (
            "acme:\n  directory: https://ca.example/dir\n",
            "tls:\n  acme: true\n  wildcard: true\n",
            "DNS-01 needs",
        ),
        (
            "acme:\n  directory: https://ca.example/dir\n  dns_hook: /etc/debian_version\n",
            "tls:\n  acme: true\n  challenge: dns-01\n",
            "is not an executable file",
        ),
        (
            "acme:\n  directory: https://ca.example/dir\n  dns_hook: /bin/true\n  dns_update:\n    server: 127.0.0.1\n    key_file: /etc/lempctl/update.key\n",
            "",
            "both `dns_hook` and `dns_update`",
        ),
        (
            "acme:\n  directory: https://ca.example/dir\n  dns_update:\n    server: https://ns1.example/\n    key_file: /etc/lempctl/update.key\n",
            "",
            "`acme.dns_update.server`",
        ),
        (
            "acme:\n  directory: https://ca.example/dir\n  dns_update:\n    server: 127.0.0.1\n",
            "",
            "`acme.dns_update.key_file`",
        ),
        (
            "acme:\n  directory: https://ca.example/dir\n  dns_update:\n    server: 127.0.0.1\n    key_file: /etc/hostname\n",
            "tls:\n  acme: true\n  wildcard: true\n",
            "is readable by others",
        ),
    ] {
        let sb = Sandbox::new();
        with_acme(&sb, yaml);
        sb.write_site(
            "f.tls.test.yaml",
            &format!("name: f.tls.test\nkind: static\n{site}"),
        );
        let before = sb.tree();
        let out = sb.lempctl().arg("apply").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{yaml}{site}: {err}");
        assert!(err.contains(want), "{yaml}{site}: {err}");
        assert_eq!(sb.tree(), before, "nothing written");
    }
}

#[test]
fn a_wildcard_certificate_over_dns_01_through_the_hook() {
    require!(NEED);
    let sb = Sandbox::new().started();
    let pebble = require!(Pebble::start(&sb.path("/pebble"), sb.port, 864_000));
    with_acme(
        &sb,
        &format!(
            "{}  dns_hook: {}\n",
            pebble.acme_yaml(),
            pebble.dns_hook().display()
        ),
    );
    sb.write_site(
        "w.tls.test.yaml",
        "name: w.tls.test\nkind: static\naliases: [shop.w.tls.test, w2.tls.test]\ntls:\n  acme: true\n  wildcard: true\n",
    );
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");
    let (_, list, _) = sb.json(&["cert", "list"]);
    let names = list[0]["names"].to_string();
    assert!(
        names.contains("*.w.tls.test") && names.contains("\"w.tls.test\""),
        "{list}"
    );
    assert!(
        names.contains("w2.tls.test") && !names.contains("shop.w.tls.test"),
        "the wildcard covers the alias: {list}"
    );
    let calls = pebble.dns_hook_calls();
    assert!(calls.contains("add _acme-challenge.w.tls.test "), "{calls}");
    assert!(
        calls.contains("remove _acme-challenge.w.tls.test "),
        "records are removed: {calls}"
    );
    let root = pebble.root();
    std::fs::write(sb.path("/srv/www/w.tls.test/htdocs/index.html"), "wild").unwrap();
    assert_eq!(
        https(&sb, &root, "shop.w.tls.test", "/"),
        ("200".into(), "wild".into())
    );
    // the next apply does not re-issue: the wildcard covers the alias
    let (code, v, _) = sb.json(&["apply"]);
    assert_eq!((code, &v["changed"]), (0, &serde_json::json!(false)), "{v}");
}

#[test]
fn a_wildcard_certificate_over_dns_01_through_rfc_2136_updates() {
    require!(NEED);
    let sb = Sandbox::new().started();
    let named = require!(Named::start(&sb.path("/named"), "tls.test"));
    let pebble = require!(Pebble::start_with_dns(
        &sb.path("/pebble"),
        sb.port,
        864_000,
        Some(named.port)
    ));
    // first a key of the same name with another secret: the server refuses the update, the run
    // says so and the site keeps serving HTTP
    let wrong = sb.path("/etc/lempctl/wrong.key");
    let key = std::fs::read_to_string(&named.key).unwrap();
    let secret = key.split('"').nth(3).unwrap();
    std::fs::write(
        &wrong,
        key.replace(secret, "c2VjcmV0IHRoZSBzZXJ2ZXIgZG9lcyBub3Qga25vdw=="),
    )
    .unwrap();
    std::fs::set_permissions(&wrong, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let base = std::fs::read_to_string(&g).unwrap();
    let update = |key: &std::path::Path| {
        std::fs::write(
            &g,
            format!(
                "{base}{}  dns_update:\n    server: 127.0.0.1:{}\n    key_file: {}\n    ttl: 30\n",
                pebble.acme_yaml(),
                named.port,
                key.display()
            ),
        )
        .unwrap();
    };
    update(&wrong);
    sb.write_site(
        "u.tls.test.yaml",
        "name: u.tls.test\nkind: static\naliases: [www.u.tls.test]\ntls:\n  acme: true\n  wildcard: true\n",
    );
    std::fs::create_dir_all(sb.path("/srv/www/u.tls.test/htdocs")).unwrap();
    let out = sb.lempctl().arg("apply").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("adding the TXT record _acme-challenge.u.tls.test")
            && err.contains("does not accept the key"),
        "the server's refusal is explained: {err}"
    );
    assert!(
        !sb.path("/var/lib/lempctl/certs/u.tls.test/fullchain.pem")
            .exists()
    );
    std::fs::write(sb.path("/srv/www/u.tls.test/htdocs/index.html"), "u").unwrap();
    let r = sb.get("u.tls.test", "/");
    assert_eq!(
        (r.status.code(), r.body.as_str()),
        (Some(200), "u"),
        "served over HTTP"
    );
    // doctor sees it too, with an update that changes nothing (the zone's serial stays 1)
    let dns_check = |v: &serde_json::Value| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "acme-dns-update")
            .cloned()
            .unwrap_or_default()
    };
    let (_, v, _) = sb.json(&["doctor"]);
    let c = dns_check(&v);
    assert_eq!(c["result"], "fail", "{v}");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("does not accept the key"),
        "{c}"
    );
    // the right key: both names' records are added, checked by the CA through named, removed
    update(&named.key);
    let (_, v, _) = sb.json(&["doctor"]);
    let c = dns_check(&v);
    assert_eq!(c["result"], "ok", "{v}");
    assert!(c["message"].as_str().unwrap().contains("tls.test"), "{c}");
    assert!(
        named.dig("SOA", "tls.test").contains(" 1 60 60 600 60"),
        "the check changed nothing: {}",
        named.dig("SOA", "tls.test")
    );
    let (code, v, err) = sb.json(&["cert", "issue", "--force", "u.tls.test"]);
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["certificates"][0]["result"], "issued", "{v}");
    let (_, list, _) = sb.json(&["cert", "list"]);
    let names = list[0]["names"].to_string();
    assert!(
        names.contains("*.u.tls.test") && names.contains("\"u.tls.test\""),
        "{list}"
    );
    let log = named.log();
    assert!(
        log.matches("adding an RR at '_acme-challenge.u.tls.test' TXT")
            .count()
            >= 2,
        "one record for the name, one for its wildcard: {log}"
    );
    assert_eq!(
        named.dig("TXT", "_acme-challenge.u.tls.test"),
        "",
        "the records are removed afterwards"
    );
    let (code, v, _) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        https(&sb, &pebble.root(), "www.u.tls.test", "/"),
        ("200".into(), "u".into())
    );
}

#[test]
fn a_sandbox_with_its_own_acme_ca_serves_https_with_issued_certificates() {
    require!(NEED);
    let dir = tempfile::Builder::new()
        .prefix("lempctl-it-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // HTTP, HTTPS, MariaDB, then pebble's four and its TLS port
    let port = free_ports(8);
    let run = |args: &[&str]| {
        let out = Command::new(bin())
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .arg("--root")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let p = port.to_string();
    let root = dir.path().to_str().unwrap();
    run(&[
        "sandbox",
        "init",
        root,
        "--port",
        &p,
        "--no-mariadb",
        "--acme",
    ]);
    /// Stops the sandbox's servers (pebble too) whatever the test's outcome.
    struct Stop<'a>(&'a std::path::Path);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = Command::new(bin())
                .arg("--root")
                .arg(self.0)
                .args(["sandbox", "stop"])
                .output();
        }
    }
    let _stop = Stop(dir.path());
    let status = run(&["sandbox", "start"]);
    assert!(
        status.contains("pebble") && status.contains("running"),
        "{status}"
    );
    std::fs::write(
        dir.path().join("etc/lempctl/sites.d/s.tls.test.yaml"),
        "name: s.tls.test\nkind: static\ntls:\n  acme: true\n",
    )
    .unwrap();
    run(&["apply"]);
    let https_port = port + 1;
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(dir.path().join("etc/lempctl/pebble/root.pem"))
        .arg("--resolve")
        .arg(format!("s.tls.test:{https_port}:127.0.0.1"))
        .arg(format!("https://s.tls.test:{https_port}/"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    let stopped = run(&["sandbox", "stop"]);
    assert!(!stopped.contains("running"), "{stopped}");
}

/// A self-signed certificate (key, certificate) for `name`, written to `dir`.
fn self_signed(
    dir: &std::path::Path,
    stem: &str,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (key, cert) = (
        dir.join(format!("{stem}.key")),
        dir.join(format!("{stem}.pem")),
    );
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "60", "-subj", &format!("/CN={name}")])
        .args(["-addext", &format!("subjectAltName=DNS:{name}")])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (key, cert)
}

/// `cert check --json` with `/etc/hosts` replaced by `hosts` in a mount namespace of its own (the
/// machine's file is never touched): how the public check's names resolve.
fn check_with_hosts(sb: &Sandbox, hosts: &str) -> (i32, serde_json::Value) {
    let file = sb.path("/hosts-for-the-test");
    std::fs::write(&file, hosts).unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$0\" /etc/hosts && exec \"$@\"")
        .arg(&file)
        .arg(bin())
        .arg("--root")
        .arg(sb.root())
        .args(["cert", "check", "--json"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

/// `certificates.public`: each name's public addresses serve the file's certificate; another
/// server on a name's address (a stale DNS record, a load balancer) is critical; a name that does
/// not resolve is a warning.
#[test]
fn the_public_check_finds_another_certificate_at_a_names_public_address() {
    require!(&[
        "nginx",
        "php-fpm8.2",
        "useradd",
        "openssl",
        "unshare",
        "mount"
    ]);
    let sb = Sandbox::new().started();
    let https_port = sb.port + 1;
    let (key, cert) = self_signed(&sb.path("/etc/ssl/pub"), "site", "pub.tls.test");
    sb.write_site(
        "pub.tls.test.yaml",
        &format!(
            "name: pub.tls.test\nkind: static\ntls:\n  certificate: {}\n  key: {}\n",
            "/etc/ssl/pub/site.pem", "/etc/ssl/pub/site.key"
        ),
    );
    with_acme(
        &sb,
        &format!(
            "certificates:\n  trust: {}\n  public: true\n  public_port: {https_port}\n",
            cert.display()
        ),
    );
    let _ = key;
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{v} {err}");

    // the name resolves to this host's listener: the file's certificate, ok
    let (code, v) = check_with_hosts(&sb, "127.0.0.1 localhost\n127.0.0.1 pub.tls.test\n");
    assert_eq!(code, 0, "{v:#}");
    let site = &v["sites"][0];
    assert_eq!(site["level"], "ok", "{v:#}");
    assert_eq!(
        site["public"][0]["address"],
        format!("127.0.0.1:{https_port}"),
        "{v:#}"
    );
    assert_eq!(site["public"][0]["matches"], true, "{v:#}");

    // the name points at another server with another certificate: critical, exit 1
    let (okey, ocert) = self_signed(&sb.path("/other"), "other", "pub.tls.test");
    let mut other = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.2:{https_port}"))
        .arg("-cert")
        .arg(&ocert)
        .arg("-key")
        .arg(&okey)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.2", https_port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "s_server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, v) = check_with_hosts(&sb, "127.0.0.1 localhost\n127.0.0.2 pub.tls.test\n");
    let _ = other.kill();
    let _ = other.wait();
    assert_eq!(code, 1, "{v:#}");
    let site = &v["sites"][0];
    assert_eq!(site["level"], "critical", "{v:#}");
    assert_eq!(site["public"][0]["matches"], false, "{v:#}");
    assert!(
        site["problems"].to_string().contains(&format!(
            "pub.tls.test at 127.0.0.2:{https_port} serves another certificate than the file"
        )),
        "{v:#}"
    );
    // the local listener is still right
    assert!(site["live"]["serial"].is_string(), "{v:#}");

    // the name does not resolve: a warning
    let (code, v) = check_with_hosts(&sb, "127.0.0.1 localhost\n");
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["sites"][0]["level"], "warning", "{v:#}");
    assert!(
        v["sites"][0]["problems"]
            .to_string()
            .contains("pub.tls.test does not resolve (public check)"),
        "{v:#}"
    );

    // a port for a check that is off is refused (in a sandbox of its own: one whose configuration
    // does not load could not stop its servers)
    let bad = Sandbox::new();
    with_acme(&bad, "certificates:\n  public_port: 8443\n");
    let out = bad.lempctl().args(["cert", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`certificates.public_port`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
