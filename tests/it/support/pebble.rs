//! A real ACME CA for the tests: Debian's `pebble`, with `pebble-challtestsrv` as a DNS server
//! that answers every name with 127.0.0.1 (no /etc/hosts edits). Pebble's HTTPS listener gets a
//! certificate from a scratch CA made with openssl; its issuing root is fetched from the
//! management API (pebble makes a new one at every start).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Need, free_port, missing};

pub struct Pebble {
    children: Vec<Child>,
    /// The scratch CA lempctl must trust for pebble's own HTTPS (`acme.ca_bundle`).
    pub ca: PathBuf,
    /// The ACME directory URL.
    pub directory: String,
    mgmt: u16,
    /// challtestsrv's management API (TXT records for DNS-01).
    chall_mgmt: u16,
    dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pebble {
    /// Starts pebble validating HTTP-01 on `http_port` (the sandbox's HTTP listener) and issuing
    /// certificates valid for `validity` seconds.
    pub fn start(dir: &Path, http_port: u16, validity: u64) -> Need<Pebble> {
        Self::start_with_dns(dir, http_port, validity, None)
    }

    /// As `start`, with pebble asking the DNS server on 127.0.0.1:`dns` (a zone's own server)
    /// instead of challtestsrv when it is given.
    pub fn start_with_dns(
        dir: &Path,
        http_port: u16,
        validity: u64,
        dns_server: Option<u16>,
    ) -> Need<Pebble> {
        for p in ["pebble", "pebble-challtestsrv", "openssl", "curl"] {
            if which(p).is_none() {
                return Err(missing(&format!("{p} missing (apt-get install pebble)")));
            }
        }
        std::fs::create_dir_all(dir).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=lempctl-test-ca",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "pebble.key",
                "-out",
                "pebble.csr",
            ],
        );
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "pebble.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                "pebble.pem",
                "-extfile",
                "ext.cnf",
            ],
        );
        let (listen, dns) = (free_port(), free_port());
        let (mgmt, chall_mgmt, tls_port) = (listen + 1, dns + 1, dns + 2);
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": dir.join("pebble.pem"),
            "privateKey": dir.join("pebble.key"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": validity,
        }});
        std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
        let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
        let chall = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{chall_mgmt}")])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(log("challtestsrv.log"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .args([
                "-dnsserver",
                &format!("127.0.0.1:{}", dns_server.unwrap_or(dns)),
            ])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log("pebble.log"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let p = Pebble {
            children: vec![chall, pebble],
            ca: dir.join("ca.pem"),
            directory: format!("https://127.0.0.1:{listen}/dir"),
            mgmt,
            chall_mgmt,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while p.curl(&p.directory).is_none() {
            assert!(
                Instant::now() < deadline,
                "pebble did not start: {}",
                std::fs::read_to_string(dir.join("pebble.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(p)
    }

    fn curl(&self, url: &str) -> Option<String> {
        let out = Command::new("curl")
            .args(["-sf", "--cacert"])
            .arg(&self.ca)
            .arg(url)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Pebble's issuing root (PEM), written to a file: what clients trust for issued chains.
    pub fn root(&self) -> PathBuf {
        let pem = self
            .curl(&format!("https://127.0.0.1:{}/roots/0", self.mgmt))
            .expect("pebble's root");
        let path = self.dir.join("pebble-root.pem");
        std::fs::write(&path, pem).unwrap();
        path
    }

    /// A DNS hook (`add|remove FQDN VALUE`) that sets TXT records in challtestsrv's DNS.
    pub fn dns_hook(&self) -> PathBuf {
        let path = self.dir.join("dns-hook");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nset -e\necho \"$@\" >> {log}\ncase \"$1\" in\n  add) curl -sf -X POST -d \"{{\\\"host\\\":\\\"$2.\\\",\\\"value\\\":\\\"$3\\\"}}\" http://127.0.0.1:{port}/set-txt ;;\n  remove) curl -sf -X POST -d \"{{\\\"host\\\":\\\"$2.\\\"}}\" http://127.0.0.1:{port}/clear-txt ;;\nesac\n",
                log = self.dir.join("dns-hook.log").display(),
                port = self.chall_mgmt
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        path
    }

    /// What the DNS hook was called with, one call a line.
    pub fn dns_hook_calls(&self) -> String {
        std::fs::read_to_string(self.dir.join("dns-hook.log")).unwrap_or_default()
    }

    /// The `acme` section of lempctl.yaml for this CA.
    pub fn acme_yaml(&self) -> String {
        format!(
            "acme:\n  directory: {}\n  email: admin@tls.test\n  ca_bundle: {}\n",
            self.directory,
            self.ca.display()
        )
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn which(p: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(p))
        .find(|f| f.is_file())
}
