//! Uploads: one setting (`php.upload_max_size`) drives nginx's `client_max_body_size` and PHP's
//! `upload_max_filesize`/`post_max_size`, so a file the site announces it accepts arrives, and a
//! larger one is refused by nginx before PHP sees it.

use std::path::Path;
use std::process::Command;

use crate::support::*;

const MIB: usize = 1 << 20;

/// curl against the sandbox's nginx for `host`: `(status, body)`.
fn curl(sb: &Sandbox, host: &str, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "60"])
        .arg("--resolve")
        .arg(format!("{host}:{}:127.0.0.1", sb.port))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

fn url(sb: &Sandbox, host: &str, path: &str) -> String {
    format!("http://{host}:{}{path}", sb.port)
}

/// A file of exactly `size` bytes starting with `head`.
fn file_of(path: &Path, head: &[u8], size: usize) {
    let mut data = head.to_vec();
    data.resize(size, b'x');
    std::fs::write(path, data).unwrap();
}

fn read(sb: &Sandbox, host_path: &str) -> String {
    std::fs::read_to_string(sb.path(host_path)).unwrap()
}

const PHP_UPLOAD_SITE: &str = "name: up.php.test\nkind: php\n";

const REPORT_FILES: &str = "<?php\nheader('Content-Type: text/plain');\n\
    foreach ($_FILES as $k => $f) { echo \"$k error={$f['error']} size={$f['size']}\\n\"; }\n\
    echo 'post_max_size=', ini_get('post_max_size'), ' upload_max_filesize=', ini_get('upload_max_filesize'), \"\\n\";\n";

#[test]
fn nginx_and_php_agree_on_a_php_sites_upload_limit() {
    require!(&["nginx", "php-fpm8.2", "useradd", "curl"]);
    // The fields of older site files still work (with a deprecation warning) and render the same
    // files as the new one.
    let sb = Sandbox::new()
        .site(
            "up.yaml",
            &format!("{PHP_UPLOAD_SITE}php:\n  upload_max_filesize: 4M\n  post_max_size: 4M\n"),
        )
        .started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("up.yaml:4:24: `php.upload_max_filesize` is deprecated: write `php.upload_max_size: 4M` instead"),
        "{warnings}"
    );
    assert!(
        warnings.contains("up.yaml:5:18: `php.post_max_size` is deprecated and ignored"),
        "{warnings}"
    );
    sb.write_site(
        "up.yaml",
        &format!("{PHP_UPLOAD_SITE}php:\n  upload_max_size: 4M\n"),
    );
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["changed"], false, "{v}");
    assert_eq!(v["warnings"], serde_json::json!([]), "{v}");

    let vhost = read(&sb, "/etc/nginx/sites-available/up.php.test.conf");
    assert!(vhost.contains("client_max_body_size 5M;"), "{vhost}");
    let pool = read(&sb, "/etc/php/8.2/fpm/pool.d/up.php.test.conf");
    assert!(
        pool.contains("php_admin_value[upload_max_filesize] = 4M\n"),
        "{pool}"
    );
    assert!(
        pool.contains("php_admin_value[post_max_size] = 5M\n"),
        "{pool}"
    );

    sb.write("/srv/www/up.php.test/htdocs/upload.php", REPORT_FILES);
    let dir = sb.root();
    let post = |name: &str, size: usize| {
        let f = dir.join(name);
        file_of(&f, b"", size);
        let r = curl(
            &sb,
            "up.php.test",
            &[
                "-F",
                &format!("file=@{}", f.display()),
                &url(&sb, "up.php.test", "/upload.php"),
            ],
        );
        std::fs::remove_file(f).unwrap();
        r
    };
    let (status, body) = post("three.bin", 3 * MIB);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("file error=0 size=3145728\n"), "{body}");
    assert!(
        body.contains("post_max_size=5M upload_max_filesize=4M"),
        "{body}"
    );
    // Exactly the configured size passes nginx and PHP: the body limit leaves room for the form.
    let (status, body) = post("four.bin", 4 * MIB);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("file error=0 size=4194304\n"), "{body}");
    // Above the upload size but within the body limit: nginx passes it, PHP refuses the file
    // (UPLOAD_ERR_INI_SIZE) and the script still runs.
    let (status, body) = post("four-and-a-half.bin", 4 * MIB + MIB / 2);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("file error=1 size=0\n"), "{body}");
    // 1 MiB over the upload size: nginx answers 413 itself.
    let (status, body) = post("five.bin", 5 * MIB);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("413 Request Entity Too Large"), "{body}");
    let log = read(&sb, "/var/log/nginx/up.php.test.error.log");
    assert!(
        log.contains("client intended to send too large body"),
        "{log}"
    );

    // A static site takes no uploads: nginx's own 1 MiB.
    sb.write_site("static.yaml", STATIC_SITE);
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let vhost = read(&sb, "/etc/nginx/sites-available/static.example.test.conf");
    assert!(vhost.contains("client_max_body_size 1m;"), "{vhost}");
}

const WP_SITE: &str = "name: up.wp.test\nkind: wordpress\nwordpress:\n  title: Uploads\n  admin_email: owner@wp.test\n";

#[test]
fn a_20_mb_media_upload_through_wordpress_arrives() {
    require!(
        &["nginx", "php-fpm8.2", "php8.2", "mariadbd", "curl"],
        wordpress()
    );
    let host = "up.wp.test";
    let sb = Sandbox::with_db().site("up.yaml", WP_SITE).started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    // The WordPress default: 64M files, 71M bodies, in nginx and PHP alike.
    let vhost = read(&sb, "/etc/nginx/sites-available/up.wp.test.conf");
    assert!(vhost.contains("client_max_body_size 71M;"), "{vhost}");
    let pool = read(&sb, "/etc/php/8.2/fpm/pool.d/up.wp.test.conf");
    assert!(
        pool.contains("php_admin_value[upload_max_filesize] = 64M\n")
            && pool.contains("php_admin_value[post_max_size] = 71M\n"),
        "{pool}"
    );

    // Log in as the admin.
    let pw = sb.secrets(host)["wp_admin_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let jar = sb.root().join("cookies.txt");
    let jar = jar.to_str().unwrap();
    let (status, body) = curl(
        &sb,
        host,
        &[
            "-c",
            jar,
            "-b",
            "wordpress_test_cookie=WP%20Cookie%20check",
            "--data-urlencode",
            "log=admin",
            "--data-urlencode",
            &format!("pwd={pw}"),
            "-d",
            "testcookie=1",
            &url(&sb, host, "/wp-login.php"),
        ],
    );
    assert_eq!(status, 302, "login failed: {body}");

    // The media uploader's nonce, and the limit WordPress announces.
    let (status, page) = curl(
        &sb,
        host,
        &["-b", jar, &url(&sb, host, "/wp-admin/media-new.php")],
    );
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Maximum upload file size: 64 MB"),
        "WordPress announces another limit"
    );
    let nonce = page
        .split_once("\"_wpnonce\":\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(n, _)| n.to_owned())
        .expect("no _wpnonce in the uploader settings");

    // 20 MiB: a PDF by extension and content, which WordPress accepts.
    let size = 20 * MIB;
    let pdf = sb.root().join("big-upload.pdf");
    file_of(&pdf, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", size);
    let started = std::time::Instant::now();
    let (status, body) = curl(
        &sb,
        host,
        &[
            "-b",
            jar,
            "-F",
            &format!("async-upload=@{};type=application/pdf", pdf.display()),
            "-F",
            "name=big-upload.pdf",
            "-F",
            "action=upload-attachment",
            "-F",
            &format!("_wpnonce={nonce}"),
            &url(&sb, host, "/wp-admin/async-upload.php"),
        ],
    );
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(v["data"]["filesizeInBytes"], size, "{v}");
    eprintln!("20 MiB upload through async-upload.php: {took:?}");

    let uploads = sb.path("/srv/www/up.wp.test/htdocs/wp-content/uploads");
    let stored: Vec<_> = walkdir::WalkDir::new(&uploads)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() == "big-upload.pdf")
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let meta = stored[0].metadata().unwrap();
    assert_eq!(meta.len(), size as u64);
    assert_eq!(
        std::fs::read(stored[0].path()).unwrap(),
        std::fs::read(&pdf).unwrap()
    );
    // Stored by the site's PHP, as the site user.
    let owner = std::os::unix::fs::MetadataExt::uid(&meta);
    let site_uid = std::os::unix::fs::MetadataExt::uid(
        &std::fs::metadata(sb.path("/srv/www/up.wp.test")).unwrap(),
    );
    assert_eq!(owner, site_uid);
}
