//! A zone's own DNS server for the tests: Debian's BIND (`named`) on 127.0.0.1, primary for one
//! zone, taking RFC 2136 updates of TXT records signed with a TSIG key made by `tsig-keygen`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::pebble::which;
use super::{Need, free_port, missing};

pub struct Named {
    child: Child,
    /// The port it answers on (UDP and TCP).
    pub port: u16,
    /// The key the zone accepts updates from (mode 0600).
    pub key: PathBuf,
    dir: PathBuf,
}

impl Named {
    /// Starts `named` as primary for `zone`, whose names all resolve to 127.0.0.1.
    pub fn start(dir: &Path, zone: &str) -> Need<Named> {
        for p in ["named", "tsig-keygen", "dig"] {
            if which(p).is_none() {
                return Err(missing(&format!(
                    "{p} missing (apt-get install bind9 bind9-dnsutils)"
                )));
            }
        }
        std::fs::create_dir_all(dir).unwrap();
        let key = dir.join("update.key");
        let out = Command::new("tsig-keygen")
            .args(["-a", "hmac-sha256", "lempctl-acme"])
            .output()
            .unwrap();
        assert!(out.status.success(), "tsig-keygen");
        std::fs::write(&key, &out.stdout).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        std::fs::write(
            dir.join("zone.db"),
            format!(
                "$TTL 60\n@ IN SOA ns.{zone}. hostmaster.{zone}. 1 60 60 600 60\n@ IN NS ns.{zone}.\n@ IN A 127.0.0.1\n* IN A 127.0.0.1\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let d = dir.display();
        std::fs::write(
            dir.join("named.conf"),
            format!(
                "include \"{key}\";\noptions {{ directory \"{d}\"; pid-file \"{d}/named.pid\"; listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }}; recursion no; dnssec-validation no; }};\ncontrols {{ }};\nzone \"{zone}\" {{ type primary; file \"{d}/zone.db\"; update-policy {{ grant lempctl-acme zonesub TXT; }}; }};\n",
                key = key.display()
            ),
        )
        .unwrap();
        let child = Command::new("named")
            .args(["-g", "-n", "1", "-c"])
            .arg(dir.join("named.conf"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("named.log")).unwrap())
            .spawn()
            .unwrap();
        let n = Named {
            child,
            port,
            key,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while n.dig("SOA", zone).is_empty() {
            assert!(
                Instant::now() < deadline,
                "named did not start: {}",
                n.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(n)
    }

    /// `dig +short TYPE NAME` against this server.
    pub fn dig(&self, kind: &str, name: &str) -> String {
        let out = Command::new("dig")
            .args(["@127.0.0.1", "-p", &self.port.to_string(), "+short", "+tcp"])
            .args([kind, name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// What named logged (updates it took or refused).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("named.log")).unwrap_or_default()
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
