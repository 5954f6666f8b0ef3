//! HTTP health checks against the local server: one GET per site with its `Host`, judged by the
//! status line. Results are checked from outside, like a client would see them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// One site to check.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub site: String,
    pub path: String,
    pub status: u16,
}

/// Sends `GET path` with `Host: host` and returns the status code.
pub(crate) fn get_status(
    addr: SocketAddr,
    host: &str,
    path: &str,
    timeout: Duration,
) -> Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: lempctl-health\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n = s.read(&mut buf[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let line = String::from_utf8_lossy(&buf[..got]);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no HTTP status line from {addr} for {host}"))
}

/// Resolves `address:port`.
pub(crate) fn address(addr: &str, port: u16) -> Result<SocketAddr> {
    (addr.trim_matches(['[', ']']), port)
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("cannot resolve {addr}"))
}

/// Checks every probe once (in parallel); true where the expected status came back.
pub(crate) fn check_once(addr: SocketAddr, probes: &[Probe]) -> Vec<bool> {
    run_parallel(probes, |p| {
        get_status(addr, &p.site, &p.path, Duration::from_secs(3)).is_ok_and(|s| s == p.status)
    })
}

/// Polls each probe until it answers as expected or `limit` passes; returns the last status
/// (or error) of the failures.
pub(crate) fn wait_healthy(
    addr: SocketAddr,
    probes: &[Probe],
    limit: Duration,
) -> Vec<Option<String>> {
    run_parallel(probes, |p| {
        let start = Instant::now();
        loop {
            let got = get_status(addr, &p.site, &p.path, Duration::from_secs(3));
            match &got {
                Ok(s) if *s == p.status => return None,
                _ if start.elapsed() >= limit => {
                    return Some(match got {
                        Ok(s) => format!(
                            "GET http://{}{} answered {s}, expected {}",
                            p.site, p.path, p.status
                        ),
                        Err(e) => format!("GET http://{}{} failed: {e:#}", p.site, p.path),
                    });
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    })
}

/// `f` over `items` on up to 16 threads, results in order.
pub(crate) fn run_parallel<I: Sync, T: Send, F: Fn(&I) -> T + Sync>(probes: &[I], f: F) -> Vec<T> {
    run_bounded(probes, 16, f)
}

/// `f` over `items` on up to `max` threads, results in order.
pub(crate) fn run_bounded<I: Sync, T: Send, F: Fn(&I) -> T + Sync>(
    probes: &[I],
    max: usize,
    f: F,
) -> Vec<T> {
    let workers = probes.len().clamp(1, max.max(1));
    let chunk = probes.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = probes
            .chunks(chunk)
            .map(|c| scope.spawn(|| c.iter().map(&f).collect::<Vec<T>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}
