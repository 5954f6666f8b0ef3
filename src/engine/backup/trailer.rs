//! The dump trailer: the line lempctl appends to a dump in the repository, describing it, and the
//! reader that tells it apart from the dump when it is restored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::services::mariadb::RowCounter;

/// The line lempctl appends to a dump in the repository (after a newline of its own): what the
/// dump holds, known only once it has been read. An SQL comment, so loading the dump ignores it.
const TRAILER: &str = "-- lempctl-dump ";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct DumpTrailer {
    /// Rows per table, counted in the stream.
    pub(super) tables: BTreeMap<String, u64>,
    /// SHA-256 of the dump without the trailer.
    pub(super) sha256: String,
    pub(super) bytes: u64,
}

pub(super) fn trailer_bytes(t: &DumpTrailer) -> Vec<u8> {
    let json = serde_json::to_string(t).unwrap_or_default();
    format!("\n{TRAILER}{json}\n").into_bytes()
}

/// Describes a dump as it streams into the repository: rows per table, checksum, size.
#[derive(Default)]
pub(super) struct Describer {
    counter: RowCounter,
    hash: Sha256,
    bytes: u64,
}

impl Describer {
    pub(super) fn feed(&mut self, b: &[u8]) {
        self.counter.feed(b);
        self.hash.update(b);
        self.bytes += b.len() as u64;
    }

    /// The trailer of what went by.
    pub(super) fn finish(&mut self) -> DumpTrailer {
        DumpTrailer {
            tables: std::mem::take(&mut self.counter).finish(),
            sha256: hex::encode(std::mem::take(&mut self.hash).finalize()),
            bytes: self.bytes,
        }
    }
}

/// Reads a restored dump as it streams by: hashes it, holding back its end until the trailer
/// (when there is one) can be told apart from the dump.
pub(super) struct TrailerReader {
    hash: Sha256,
    held: Vec<u8>,
}

/// How much of the stream is held back: a trailer of a database with very many tables fits.
const HOLD: usize = 4 << 20;

impl TrailerReader {
    pub(super) fn new() -> Self {
        TrailerReader {
            hash: Sha256::new(),
            held: Vec::new(),
        }
    }

    pub(super) fn feed(&mut self, b: &[u8]) {
        self.held.extend_from_slice(b);
        if self.held.len() > 2 * HOLD {
            let n = self.held.len() - HOLD;
            self.hash.update(&self.held[..n]);
            self.held.drain(..n);
        }
    }

    /// The SHA-256 of the dump proper, and the trailer if the stream ends with one.
    pub(super) fn finish(mut self) -> (String, Option<DumpTrailer>) {
        let marker = format!("\n{TRAILER}");
        let found = self
            .held
            .windows(marker.len())
            .rposition(|w| w == marker.as_bytes())
            .and_then(|at| {
                let line = self.held[at + marker.len()..].strip_suffix(b"\n")?;
                let t: DumpTrailer = serde_json::from_slice(line).ok()?;
                Some((at, t))
            });
        let end = found.as_ref().map_or(self.held.len(), |(at, _)| *at);
        self.hash.update(&self.held[..end]);
        (hex::encode(self.hash.finalize()), found.map(|(_, t)| t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_trailer_is_found_and_kept_out_of_the_checksum() {
        let dump: Vec<u8> = (0..9 * HOLD / 4).map(|i| b"INSERT x;\n"[i % 10]).collect();
        let t = DumpTrailer {
            tables: [("posts".to_owned(), 3)].into(),
            sha256: hex::encode(Sha256::digest(&dump)),
            bytes: dump.len() as u64,
        };
        let mut stream = dump.clone();
        stream.extend(trailer_bytes(&t));
        let mut r = TrailerReader::new();
        for chunk in stream.chunks(256 * 1024 + 7) {
            r.feed(chunk);
        }
        assert_eq!(r.finish(), (t.sha256.clone(), Some(t)));
        // an older dump without a trailer: the checksum covers everything
        let mut r = TrailerReader::new();
        r.feed(&dump);
        assert_eq!(r.finish(), (hex::encode(Sha256::digest(&dump)), None));
    }
}
