//! A moto S3 server (from the lempctl venv) on a free port, killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::{Need, missing};

pub struct Moto {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

fn moto_binary() -> Option<PathBuf> {
    [
        std::env::var("MOTO_SERVER").ok().map(PathBuf::from),
        Some(PathBuf::from("/opt/lempctl-venv/bin/moto_server")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_file())
    .or_else(|| {
        std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .map(|d| Path::new(d).join("moto_server"))
            .find(|p| p.is_file())
    })
}

/// A moto S3 server on a free port, or [`missing`] without `moto_server`. Killed on drop.
pub fn start_moto() -> Need<Moto> {
    let Some(bin) = moto_binary() else {
        return Err(missing(
            "moto_server not found (set MOTO_SERVER or install /opt/lempctl-venv: python3 -m venv /opt/lempctl-venv && /opt/lempctl-venv/bin/pip install 'moto[s3]' flask flask-cors)",
        ));
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("moto.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("PYTHONUNBUFFERED", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn moto_server");
    let m = Moto {
        child,
        port,
        log,
        _dir: dir,
    };
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(30), "moto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(m)
}

impl Moto {
    /// Kills the server (the endpoint then refuses connections); its log stays readable.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn log_len(&self) -> usize {
        std::fs::read_to_string(&self.log).unwrap().len()
    }
    /// Request lines containing `needle` the server logged after byte offset `from`.
    pub fn logged(&self, needle: &str, from: usize) -> usize {
        std::thread::sleep(Duration::from_millis(300)); // let the server flush
        let s = std::fs::read_to_string(&self.log).unwrap();
        s[from..].lines().filter(|l| l.contains(needle)).count()
    }
    /// PUT and POST requests logged after byte offset `from`.
    pub fn puts(&self, from: usize) -> usize {
        self.logged("\"PUT /", from) + self.logged("\"POST /", from)
    }
}
