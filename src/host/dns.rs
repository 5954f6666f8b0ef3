//! Name resolution with a time bound: the system resolver (`getaddrinfo`, through std's
//! `ToSocketAddrs`) has no timeout of its own, so each name is looked up in a thread and what has
//! not answered by the deadline counts as unresolved.

use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Most lookups in flight at once.
const PARALLEL: usize = 64;

/// The addresses of each name (empty: it does not resolve); a name without an answer within
/// `limit` (for all names together) is absent.
pub(crate) fn resolve_all(names: &[String], limit: Duration) -> BTreeMap<String, Vec<IpAddr>> {
    let deadline = Instant::now() + limit;
    let mut out: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for chunk in names.chunks(PARALLEL) {
        let (tx, rx) = mpsc::channel();
        for name in chunk {
            let (tx, name) = (tx.clone(), name.clone());
            // A thread still blocked in the resolver at the deadline is left behind; it ends
            // with the resolver's own timeout, or with the process.
            std::thread::spawn(move || {
                let addrs: Vec<IpAddr> = (name.as_str(), 0)
                    .to_socket_addrs()
                    .map(|a| a.map(|s| s.ip()).collect())
                    .unwrap_or_default();
                let _ = tx.send((name, addrs));
            });
        }
        drop(tx);
        for _ in chunk {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((name, mut addrs)) => {
                    addrs.sort();
                    addrs.dedup();
                    out.insert(name, addrs);
                }
                Err(_) => return out,
            }
        }
    }
    out
}
