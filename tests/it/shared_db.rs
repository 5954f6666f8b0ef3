//! One MariaDB server with TLS shared by two lempctl hosts (two sandboxes with different
//! `web_hosts`): neither drops the other's accounts, a site leaving one host keeps its database,
//! site users require TLS, and WordPress connects with TLS and a verified server certificate.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::*;

const SITE: &str = "name: blog.shared.test\nkind: wordpress\nwordpress:\n  title: Shared Blog\n  admin_email: owner@shared.test\n";

/// A mariadbd of the test's own: TLS with a private CA, TCP on 127.0.0.1, root over its socket.
struct TlsMariadb {
    dir: tempfile::TempDir,
    port: u16,
    mariadbd: Option<std::process::Child>,
}

impl TlsMariadb {
    fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("lempctl-shared-db-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        // mariadbd runs as mysql: it must reach its files
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let ssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        ssl(&[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=lempctl test db CA",
            ],
        ]
        .concat());
        ssl(&[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat());
        std::fs::write(d.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        ssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ]);
        for sub in ["data", "run"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        let out = Command::new("chown")
            .args(["-R", "mysql"])
            .args([d.join("data"), d.join("run"), d.join("server.key")])
            .output()
            .unwrap();
        assert!(out.status.success());
        let out = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg("--user=mysql")
            .arg(format!("--datadir={}", d.join("data").display()))
            .args(["--auth-root-authentication-method=socket", "--skip-test-db"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let log = std::fs::File::create(d.join("mariadbd.log")).unwrap();
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg("--user=mysql")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--socket={}", d.join("run/sock").display()))
            .arg(format!("--pid-file={}", d.join("run/pid").display()))
            .arg(format!("--port={port}"))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--skip-log-bin",
            ])
            .arg(format!("--ssl-cert={}", d.join("server.pem").display()))
            .arg(format!("--ssl-key={}", d.join("server.key").display()))
            .arg(format!("--ssl-ca={}", d.join("ca.pem").display()))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let db = TlsMariadb {
            mariadbd: Some(child),
            dir,
            port,
        };
        for _ in 0..100 {
            if db.socket().exists() && db.try_sql("SELECT 1").is_ok() {
                return db;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "mariadbd did not start: {}",
            std::fs::read_to_string(db.dir.path().join("mariadbd.log")).unwrap_or_default()
        );
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/sock")
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn try_sql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new("mariadb")
            .args(["--no-defaults", "-N", "-S"])
            .arg(self.socket())
            .args(["-u", "root", "-e", sql])
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// SQL as root from outside lempctl; panics on failure.
    fn sql(&self, sql: &str) -> String {
        self.try_sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// A TCP client on 127.0.0.1 as `user`, with TLS (server verified against the CA) or without.
    fn client(&self, user: &str, password: &str, tls: bool) -> std::process::Output {
        let mut c = Command::new("mariadb");
        c.args(["--no-defaults", "-N", "-h", "127.0.0.1", "-P"])
            .arg(self.port.to_string())
            .args(["-u", user])
            .arg(format!("-p{password}"));
        if tls {
            c.arg("--ssl")
                .arg(format!("--ssl-ca={}", self.ca().display()));
            c.arg("--ssl-verify-server-cert");
        } else {
            c.arg("--skip-ssl");
        }
        c.args(["-e", "SELECT CURRENT_USER()"]).output().unwrap()
    }
}

impl Drop for TlsMariadb {
    fn drop(&mut self) {
        if let Some(mut child) = self.mariadbd.take() {
            // SIGTERM: a clean shutdown, then reaped
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }
}

/// A sandbox whose lempctl.yaml points at `db` as a shared, TLS-only server with `web_hosts`.
fn host(db: &TlsMariadb, web_host: &str) -> Sandbox {
    let sb = Sandbox::new();
    let ca = sb.path("/etc/lempctl/db-ca.pem");
    std::fs::copy(db.ca(), &ca).unwrap();
    std::fs::set_permissions(&ca, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    sb.write(
        "/etc/lempctl/mariadb-admin.cnf",
        "user=lempadmin\npassword=Adm1n-pw\n",
    );
    std::fs::set_permissions(
        sb.path("/etc/lempctl/mariadb-admin.cnf"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let conf = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(!text.contains("\ndatabase:"), "{text}");
    let shared = format!(
        "{text}database:\n  host: 127.0.0.1\n  port: {}\n  credentials_file: /etc/lempctl/mariadb-admin.cnf\n  tls:\n    ca_file: /etc/lempctl/db-ca.pem\n    verify: true\n  web_hosts: [{web_host}]\n  shared: true\n  require_tls: true\n",
        db.port
    );
    std::fs::write(&conf, shared).unwrap();
    sb.write_site("blog.yaml", SITE);
    sb
}

fn accounts(db: &TlsMariadb, user: &str) -> String {
    db.sql(&format!(
        "SELECT GROUP_CONCAT(CONCAT(Host, '=', ssl_type) ORDER BY Host) FROM mysql.user WHERE User = '{user}'"
    ))
}

fn database_exists(db: &TlsMariadb, name: &str) -> bool {
    db.sql(&format!(
        "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'"
    )) == "1"
}

#[test]
fn two_hosts_share_a_tls_server_without_touching_each_others_accounts() {
    require!(DB, &["openssl", "php8.2", "mariadb", "curl"], wordpress());
    let db = TlsMariadb::start();
    db.sql("CREATE USER 'lempadmin'@'127.0.0.1' IDENTIFIED BY 'Adm1n-pw'; GRANT ALL PRIVILEGES ON *.* TO 'lempadmin'@'127.0.0.1' WITH GRANT OPTION");
    // Host A reaches the server from 127.0.0.1; host B is named 127.0.0.2 (it administers
    // over 127.0.0.1 too, but its site accounts are at 127.0.0.2).
    let a = host(&db, "127.0.0.1").started();
    let b = host(&db, "127.0.0.2");

    let (code, v, err) = a.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let show = a.show("blog.shared.test");
    let (name, user) = (
        show["database"].as_str().unwrap().to_owned(),
        show["db_user"].as_str().unwrap().to_owned(),
    );
    let pw_a = a.secrets("blog.shared.test")["db_password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(accounts(&db, &user), "127.0.0.1=ANY");
    // WordPress installed through PHP CLI and is served by PHP-FPM, both over verified TLS.
    let config =
        std::fs::read_to_string(a.path("/srv/www/blog.shared.test/htdocs/wp-config.php")).unwrap();
    assert!(
        config.contains("define('MYSQL_CLIENT_FLAGS', MYSQLI_CLIENT_SSL | MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT);"),
        "{config}"
    );
    let pool =
        std::fs::read_to_string(a.path("/etc/php/8.2/fpm/pool.d/blog.shared.test.conf")).unwrap();
    assert!(
        pool.contains("php_admin_value[openssl.cafile] = "),
        "{pool}"
    );
    let home = Command::new("curl")
        .args(["-s", "-D", "-", "--resolve"])
        .arg(format!("blog.shared.test:{}:127.0.0.1", a.port))
        .arg(format!("http://blog.shared.test:{}/", a.port))
        .output()
        .unwrap();
    let home = String::from_utf8_lossy(&home.stdout);
    assert!(home.starts_with("HTTP/1.1 200"), "{home}");
    assert!(home.contains("Shared Blog"), "{home}");
    assert!(
        db.sql(&format!("SELECT COUNT(*) FROM `{name}`.wp_options")) != "0",
        "installed into the shared server"
    );

    // The site user connects only with TLS.
    let plain = db.client(&user, &pw_a, false);
    assert!(!plain.status.success(), "{plain:?}");
    assert!(
        String::from_utf8_lossy(&plain.stderr).contains("Access denied"),
        "{plain:?}"
    );
    let tls = db.client(&user, &pw_a, true);
    assert!(tls.status.success(), "{tls:?}");

    // Host B applies the same site file: its own account, A's left alone (no drift drop).
    let (code, v, err) = b.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(!v["changes"].to_string().contains("drop"), "{v}");
    assert_eq!(accounts(&db, &user), "127.0.0.1=ANY,127.0.0.2=ANY");
    // ... and A, applying again, does not drop B's.
    let (_, again, err) = a.json(&["apply"]);
    assert_eq!(again["changed"], false, "{err}\n{again}");

    // An account whose TLS requirement was lifted by hand is drift that apply fixes.
    db.sql(&format!("ALTER USER '{user}'@'127.0.0.1' REQUIRE NONE"));
    let (code, v, err) = a.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(v["warnings"].to_string().contains("require SSL"), "{v}");
    assert_eq!(accounts(&db, &user), "127.0.0.1=ANY,127.0.0.2=ANY");

    // The site leaves host B (with --purge): the database and A's account stay.
    let (code, v, err) = b.json(&["site", "remove", "blog.shared.test", "--purge", "--yes"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let said = v.to_string();
    assert!(said.contains("kept") && said.contains(&name), "{v}");
    assert!(!said.contains(&format!("drop database {name}")), "{v}");
    assert!(database_exists(&db, &name));
    assert_eq!(accounts(&db, &user), "127.0.0.1=ANY");
    assert!(db.client(&user, &pw_a, true).status.success());
    let archive = b.path("/var/lib/lempctl/archive");
    let dumps = std::fs::read_dir(&archive)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".sql.zst")
            })
            .count()
        })
        .unwrap_or(0);
    assert_eq!(dumps, 0, "nothing dropped, nothing dumped");
    let (_, again, err) = a.json(&["apply"]);
    assert_eq!(again["changed"], false, "{err}\n{again}");
}
