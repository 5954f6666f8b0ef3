//! Test harness: a sandbox root made by the real binary, with private nginx and php-fpm on a free
//! 127.0.0.1 port, and helpers that check results from outside (HTTP, files).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

pub mod container;
mod moto;
pub mod named;
pub mod pebble;
mod restic;
mod smtp;

pub use moto::{Moto, start_moto};
pub use restic::{restic, restic_command};
pub use smtp::SmtpSink;

/// Proof that a missing part was reported: made only by [`missing`], which fails the test under
/// `CI=true` and prints a `SKIPPING TEST:` line otherwise.
#[derive(Debug)]
pub struct Missing {
    _reported: (),
}

/// What a test or helper needs: the value, or the report that something is missing.
pub type Need<T> = Result<T, Missing>;

/// Something a test needs is not installed: with `CI=true` that fails the test, elsewhere the
/// test is skipped with a line saying so.
pub fn missing(msg: &str) -> Missing {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg} (CI=true: a missing server is a failure)");
    }
    eprintln!("SKIPPING TEST: {msg}");
    Missing { _reported: () }
}

/// Every program on `$PATH`, `/usr/sbin` or `/sbin`, or [`missing`] naming the absent ones.
pub fn programs(list: &[&str]) -> Need<()> {
    let absent: Vec<&str> = list.iter().copied().filter(|p| !on_path(p)).collect();
    if absent.is_empty() {
        return Ok(());
    }
    Err(missing(&format!(
        "required programs not installed: {}",
        absent.join(", ")
    )))
}

/// Debian's `wordpress` package, the source of the WordPress sites.
pub fn wordpress() -> Need<()> {
    if Path::new("/usr/share/wordpress/wp-includes/version.php").exists() {
        return Ok(());
    }
    Err(missing(
        "the wordpress package is not installed (/usr/share/wordpress, scripts/install-deps)",
    ))
}

/// Anything `require!` accepts: a list of programs, or a helper's [`Need`].
pub trait Requirement {
    type Out;
    fn check(self) -> Need<Self::Out>;
}

impl Requirement for &[&str] {
    type Out = ();
    fn check(self) -> Need<()> {
        programs(self)
    }
}

impl<const N: usize> Requirement for &[&str; N] {
    type Out = ();
    fn check(self) -> Need<()> {
        programs(self)
    }
}

impl<T> Requirement for Need<T> {
    type Out = T;
    fn check(self) -> Need<T> {
        self
    }
}

/// The one guard of a test: `require!(WEB);`, `require!(&["curl"], wordpress());`,
/// `let (sb, repo) = require!(backup::setup());`. Each argument is a program list or a [`Need`];
/// the first one missing returns from the test (a failure under `CI=true`, see [`missing`]).
/// One argument gives its value, several a tuple of their values.
macro_rules! require {
    ($need:expr $(,)?) => {
        match $crate::support::Requirement::check($need) {
            Ok(v) => v,
            Err(_) => return,
        }
    };
    ($($need:expr),+ $(,)?) => {
        ($(match $crate::support::Requirement::check($need) {
            Ok(v) => v,
            Err(_) => return,
        }),+)
    };
}
pub(crate) use require;

fn on_path(p: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|d| Path::new(d).join(p).is_file())
}

/// Every program the web tests need.
pub const WEB: &[&str] = &["nginx", "php-fpm8.2", "useradd"];

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lempctl"))
}

/// Held by the tests that load the whole machine for a minute or more (a systemd booted in a
/// container, a fleet of network namespaces with its own MariaDB pair). Side by side on 2 cores
/// they failed together (a MariaDB connection timed out in the fleet, a job in the container
/// left no record), so they take turns.
pub fn machine_heavy() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A free port `p` with `p + 1` and `p + 2` free too (HTTP, HTTPS and MariaDB of a sandbox).
///
/// Ports come from below Linux's ephemeral range (32768 and up), where outgoing connections
/// take their local ports, and from a counter shared by the tests of this process, so two
/// sandboxes started at once never draw the same ports.
pub fn free_port() -> u16 {
    free_ports(3)
}

/// The first of `n` consecutive free ports (whole slots of 3, so tests never share one).
pub fn free_ports(n: u16) -> u16 {
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    const LOW: u16 = 20000;
    const SLOTS: u16 = 4000; // 3 ports each: 20000..32000
    let _ = NEXT.compare_exchange(
        0,
        1 + (std::process::id() as u16).wrapping_mul(7919) % SLOTS,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    let slots = n.div_ceil(3);
    for _ in 0..SLOTS {
        let slot = NEXT.fetch_add(slots, Ordering::SeqCst) % (SLOTS - slots);
        let p = LOW + slot * 3;
        if (p..p + n).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return p;
        }
    }
    panic!("no free port");
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub port: u16,
    started: bool,
    /// The network namespace lempctl (and so every server it starts) runs in: its holder's pid.
    netns: Option<u32>,
}

/// A network namespace of the test's own (the host's firewall and addresses are never touched):
/// a `sleep` holds it, its loopback is up and carries the extra addresses given.
pub struct Netns {
    holder: std::process::Child,
}

impl Netns {
    pub fn new(addrs: &[&str]) -> Self {
        let holder = std::process::Command::new("unshare")
            .args(["--net", "sleep", "3600"])
            .spawn()
            .unwrap();
        let ns = Self { holder };
        // the namespace exists once the holder's differs from this process's (before that,
        // nsenter would enter the host's own namespace)
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        let theirs = format!("/proc/{}/ns/net", ns.pid());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_link(&theirs).ok().is_none_or(|l| l == own) {
            assert!(
                std::time::Instant::now() < deadline,
                "unshare --net made no namespace"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            ns.cmd("ip")
                .args(["link", "set", "lo", "up"])
                .status()
                .unwrap()
                .success()
        );
        for a in addrs {
            assert!(
                ns.cmd("ip")
                    .args(["addr", "add", a, "dev", "lo"])
                    .status()
                    .unwrap()
                    .success()
            );
        }
        ns
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `program` run inside the namespace.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut c = std::process::Command::new("nsenter");
        c.args(["-t", &self.pid().to_string(), "-n", "--"])
            .arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

impl Sandbox {
    /// `lempctl sandbox init --no-mariadb` in a new temp dir.
    pub fn new() -> Self {
        Self::init(false)
    }

    /// A sandbox that also runs a private MariaDB (started with the web servers).
    pub fn with_db() -> Self {
        Self::init(true)
    }

    fn init(mariadb: bool) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("lempctl-it-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let out = Command::new(bin())
            .args(["sandbox", "init"])
            .args(if mariadb {
                &[][..]
            } else {
                &["--no-mariadb"][..]
            })
            .arg(dir.path())
            .args(["--port", &port.to_string()])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sandbox init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            dir,
            port,
            started: false,
            netns: None,
        }
    }

    /// Runs every later lempctl command (and so the servers it starts) inside `ns`; the
    /// sandbox must be dropped before `ns` (declare `ns` first).
    pub fn in_netns(mut self, ns: &Netns) -> Self {
        self.netns = Some(ns.pid());
        self
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Real path of a host path inside the sandbox.
    pub fn path(&self, host: &str) -> PathBuf {
        self.root().join(host.trim_start_matches('/'))
    }

    /// Writes a site file into sites.d.
    pub fn site(self, file: &str, yaml: &str) -> Self {
        self.write_site(file, yaml);
        self
    }

    pub fn write_site(&self, file: &str, yaml: &str) {
        std::fs::write(self.path("/etc/lempctl/sites.d").join(file), yaml).unwrap();
    }

    /// Appends `yaml` (top-level sections) to the sandbox's lempctl.yaml.
    pub fn append_global(&self, yaml: &str) {
        let p = self.path("/etc/lempctl/lempctl.yaml");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(p, format!("{text}{yaml}")).unwrap();
    }

    pub fn write(&self, host: &str, text: &str) {
        let p = self.path(host);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Starts the private nginx and php-fpm.
    pub fn started(mut self) -> Self {
        // stopped on drop even when the start fails halfway (a server left running would hold
        // the test's ports and files)
        self.started = true;
        self.lempctl().args(["sandbox", "start"]).assert().success();
        self
    }

    /// The binary with --root, a clean environment and a short lock wait.
    pub fn lempctl(&self) -> Command {
        let mut c = match self.netns {
            Some(pid) => {
                let mut c = Command::new("nsenter");
                c.args(["-t", &pid.to_string(), "-n", "--"]).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        c.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LC_ALL", "C")
            .env("NO_COLOR", "1")
            .arg("--root")
            .arg(self.root());
        c
    }

    /// Runs lempctl with args and `--json`, returning (exit code, parsed JSON, stderr).
    pub fn json(&self, args: &[&str]) -> (i32, serde_json::Value, String) {
        let out = self.lempctl().args(args).arg("--json").output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let v = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {stdout}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (
            out.status.code().unwrap_or(-1),
            v,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// GET with a Host header from the sandbox's nginx.
    pub fn get(&self, host: &str, path: &str) -> Response {
        http_get(self.port, host, path, &[])
    }

    /// Every file under the root with its mtime, size and mode (the state of the tree).
    pub fn tree(&self) -> BTreeMap<PathBuf, (i64, i64, u64, u32)> {
        let mut out = BTreeMap::new();
        for e in walkdir::WalkDir::new(self.root())
            .into_iter()
            .filter_map(Result::ok)
        {
            let rel = e.path().strip_prefix(self.root()).unwrap().to_path_buf();
            if rel.starts_with("run")
                || rel.starts_with("var/log")
                || rel.starts_with("var/lib/nginx")
                || rel.ends_with("lock")
            {
                continue;
            }
            if let Ok(m) = e.path().symlink_metadata() {
                out.insert(rel, (m.mtime(), m.mtime_nsec(), m.size(), m.mode()));
            }
        }
        out
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.started {
            let _ = self.lempctl().args(["sandbox", "stop"]).output();
        }
    }
}

/// What a request got back, telling "nothing listens" from "no HTTP answer" from a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// An HTTP status line with this code.
    Code(u16),
    /// The connection was accepted, then closed without an HTTP status line (nginx's
    /// `return 444` for a host it does not serve, or an empty reply).
    Closed,
    /// The connection was refused: nothing listens on the port (the error is in `body`).
    Refused,
}

impl Status {
    /// The HTTP status code, if there was an HTTP answer.
    pub fn code(self) -> Option<u16> {
        match self {
            Status::Code(c) => Some(c),
            Status::Closed | Status::Refused => None,
        }
    }
}

/// `r.status == 200` and `assert_eq!(r.status, 404)`: true only for an HTTP answer with that code.
impl PartialEq<u16> for Status {
    fn eq(&self, code: &u16) -> bool {
        self.code() == Some(*code)
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: Status,
    pub headers: String,
    pub body: String,
}

impl Response {
    /// The host is served: an HTTP answer with a 2xx or 3xx status.
    pub fn is_served(&self) -> bool {
        self.status.code().is_some_and(|c| (200..400).contains(&c))
    }
}

pub fn http_get(port: u16, host: &str, path: &str, extra: &[&str]) -> Response {
    let mut s = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => {
            return Response {
                status: Status::Refused,
                headers: String::new(),
                body: e.to_string(),
            };
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n");
    for h in extra {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .strip_prefix("HTTP/")
        .and_then(|h| h.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .map_or(Status::Closed, Status::Code);
    Response {
        status,
        headers: head.to_owned(),
        body: body.to_owned(),
    }
}

/// Every program the database tests need.
pub const DB: &[&str] = &[
    "nginx",
    "php-fpm8.2",
    "useradd",
    "mariadbd",
    "mariadb-install-db",
    "mariadb-dump",
    "zstd",
];

pub const PHP_SITE: &str = "name: php.example.test\nkind: php\naliases: [www.php.example.test]\n";
pub const STATIC_SITE: &str = "name: static.example.test\nkind: static\n";

impl Sandbox {
    /// The sandbox MariaDB's socket.
    pub fn db_socket(&self) -> PathBuf {
        self.path("/run/mysqld/mysqld.sock")
    }

    /// The sandbox MariaDB's TCP port (HTTP port + 2).
    pub fn db_port(&self) -> u16 {
        self.port + 2
    }

    /// Runs SQL as root over the socket; panics on failure.
    pub fn sql_root(&self, sql: &str) -> String {
        let out = std::process::Command::new("mariadb")
            .arg("--no-defaults")
            .arg("-N")
            .arg("-S")
            .arg(self.db_socket())
            .args(["-u", "root", "-e", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Runs SQL as a site's database user with its password (from outside, like PHP would).
    pub fn sql_as(&self, user: &str, password: &str, sql: &str) -> std::process::Output {
        std::process::Command::new("mariadb")
            .arg("--no-defaults")
            .arg("-N")
            .arg("-S")
            .arg(self.db_socket())
            .args(["-u", user])
            .arg(format!("-p{password}"))
            .args(["-e", sql])
            .output()
            .unwrap()
    }

    /// The stored secrets of a site.
    pub fn secrets(&self, site: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(
            self.path(&format!("/var/lib/lempctl/credentials/{site}.json")),
        )
        .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// `site show --json`.
    pub fn show(&self, site: &str) -> serde_json::Value {
        let out = self
            .lempctl()
            .args(["site", "show", site, "--json"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }
}
