//! A real SMTP sink (aiosmtpd from the lempctl venv) for the alert mails.

use std::path::{Path, PathBuf};

use super::{Need, missing};

/// A real SMTP sink (aiosmtpd) on a free port; every message is printed to `out`. Killed on drop.
pub struct SmtpSink {
    child: std::process::Child,
    out: PathBuf,
    pub port: u16,
}

impl SmtpSink {
    const PYTHON: &str = "/opt/lempctl-venv/bin/python";

    pub fn start(dir: &Path) -> Need<SmtpSink> {
        std::fs::create_dir_all(dir).unwrap();
        if !Path::new(Self::PYTHON).is_file() {
            return Err(missing(&format!(
                "{} missing (scripts/install-deps)",
                Self::PYTHON
            )));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = dir.join("smtp-sink.out");
        let child = std::process::Command::new(Self::PYTHON)
            .args(["-u", "-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Debugging", "stdout"])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "SMTP sink not up");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(SmtpSink { child, out, port })
    }

    /// Everything the sink printed so far (headers and bodies of the messages).
    pub fn received(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
