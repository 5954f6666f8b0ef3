//! S3 ETag arithmetic: whole-file MD5 and the multipart "MD5 of part MD5s, `-N`" ETag.
//! Invariant: part boundaries come only from `effective_part_size`, which upload.rs uses as well,
//! so a locally computed multipart ETag matches what S3 reports for our own uploads.

use md5::{Digest, Md5};
use std::io::Read;

/// S3's minimum part size (all parts but the last).
pub(super) const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's maximum number of parts per upload.
pub(super) const MAX_PARTS: u64 = 10_000;

/// Part size actually used for a file: the configured one (at least 5 MiB), doubled until the
/// file fits in 10,000 parts.
pub(super) fn effective_part_size(file_size: u64, part_size: u64) -> u64 {
    let mut p = part_size.max(MIN_PART_SIZE);
    while file_size.div_ceil(p) > MAX_PARTS {
        p = p.saturating_mul(2);
    }
    p
}

/// Number of parts a multipart upload of `file_size` bytes uses.
#[cfg(test)]
pub(super) fn part_count(file_size: u64, part_size: u64) -> u64 {
    file_size
        .div_ceil(effective_part_size(file_size, part_size))
        .max(1)
}

/// ETag S3 reports for a multipart upload with these part digests.
pub(super) fn multipart_etag(part_digests: &[[u8; 16]]) -> String {
    let mut h = Md5::new();
    for d in part_digests {
        h.update(d);
    }
    format!("{}-{}", hex::encode(h.finalize()), part_digests.len())
}

/// ETag as listed (`"abc…"`, `W/"…"`) → bare lowercase value; `None` if empty.
pub(super) fn normalize_etag(raw: &str) -> Option<String> {
    let t = raw.trim().trim_start_matches("W/").trim_matches('"').trim();
    (!t.is_empty()).then(|| t.to_ascii_lowercase())
}

/// True for an ETag that is a plain MD5 (32 hex digits, no `-N`).
pub(super) fn is_plain_md5(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Digests of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Digests {
    /// Whole-file MD5, lowercase hex.
    pub md5: String,
    /// Multipart ETag (`hex-N`), present when the file is uploaded in parts.
    pub multipart: Option<String>,
}

/// Streaming hasher computing both digests in one pass.
pub(super) struct FileHasher {
    whole: Md5,
    part: Option<PartState>,
}

struct PartState {
    size: u64,
    filled: u64,
    current: Md5,
    done: Vec<[u8; 16]>,
}

impl FileHasher {
    /// `part_size`: `Some(effective part size)` when the file will be uploaded multipart.
    pub(super) fn new(part_size: Option<u64>) -> Self {
        FileHasher {
            whole: Md5::new(),
            part: part_size.map(|size| PartState {
                size,
                filled: 0,
                current: Md5::new(),
                done: Vec::new(),
            }),
        }
    }

    pub(super) fn update(&mut self, mut data: &[u8]) {
        self.whole.update(data);
        if let Some(p) = &mut self.part {
            while !data.is_empty() {
                let room = usize::try_from(p.size - p.filled).unwrap_or(usize::MAX);
                let n = room.min(data.len());
                p.current.update(&data[..n]);
                p.filled += n as u64;
                data = &data[n..];
                if p.filled == p.size {
                    let d = std::mem::replace(&mut p.current, Md5::new()).finalize();
                    p.done.push(d.into());
                    p.filled = 0;
                }
            }
        }
    }

    pub(super) fn finish(self) -> Digests {
        let md5 = hex::encode(self.whole.finalize());
        let multipart = self.part.map(|mut p| {
            if p.filled > 0 || p.done.is_empty() {
                p.done.push(p.current.finalize().into());
            }
            multipart_etag(&p.done)
        });
        Digests { md5, multipart }
    }
}

/// Hash a file; multipart ETag computed when `size > threshold`.
pub(super) fn hash_file(
    mut f: std::fs::File,
    size: u64,
    threshold: u64,
    part_size: u64,
) -> std::io::Result<Digests> {
    let part = (size > threshold).then(|| effective_part_size(size, part_size));
    let mut h = FileHasher::new(part);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5(data: &[u8]) -> [u8; 16] {
        Md5::digest(data).into()
    }

    #[test]
    fn whole_md5_of_empty_and_abc() {
        let mut h = FileHasher::new(None);
        h.update(b"");
        assert_eq!(h.finish().md5, "d41d8cd98f00b204e9800998ecf8427e");
        let mut h = FileHasher::new(None);
        h.update(b"abc");
        assert_eq!(h.finish().md5, "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn multipart_matches_manual_split_regardless_of_chunking() {
        let data: Vec<u8> = (0..25u32).flat_map(|i| i.to_le_bytes()).collect(); // 100 bytes
        let expected = multipart_etag(&[md5(&data[..40]), md5(&data[40..80]), md5(&data[80..])]);
        for chunk in [1, 7, 40, 100] {
            let mut h = FileHasher::new(Some(40));
            for c in data.chunks(chunk) {
                h.update(c);
            }
            let d = h.finish();
            assert_eq!(
                d.multipart.as_deref(),
                Some(expected.as_str()),
                "chunk {chunk}"
            );
            assert!(expected.ends_with("-3"));
            assert_eq!(d.md5, hex::encode(md5(&data)));
        }
    }

    #[test]
    fn multipart_exact_multiple_has_no_empty_tail_part() {
        let data = vec![7u8; 80];
        let mut h = FileHasher::new(Some(40));
        h.update(&data);
        let expected = multipart_etag(&[md5(&data[..40]), md5(&data[40..])]);
        assert_eq!(h.finish().multipart, Some(expected));
    }

    #[test]
    fn known_aws_value_two_parts() {
        // md5 of (md5("a"*5MiB) ++ md5("b")) with "-2", computed independently
        let mut h = FileHasher::new(Some(MIN_PART_SIZE));
        h.update(&vec![b'a'; MIN_PART_SIZE as usize]);
        h.update(b"b");
        let d = h.finish();
        let a = md5(&vec![b'a'; MIN_PART_SIZE as usize]);
        let b = md5(b"b");
        let mut cat = a.to_vec();
        cat.extend_from_slice(&b);
        assert_eq!(d.multipart, Some(format!("{}-2", hex::encode(md5(&cat)))));
    }

    #[test]
    fn part_size_grows_to_fit_max_parts() {
        let p = 8 * 1024 * 1024;
        assert_eq!(effective_part_size(100 * 1024 * 1024, p), p);
        let huge = 200 * 1024 * 1024 * 1024; // 200 GiB
        let e = effective_part_size(huge, p);
        assert!(huge.div_ceil(e) <= MAX_PARTS);
        assert_eq!(effective_part_size(10, 1), MIN_PART_SIZE);
        assert_eq!(part_count(12 * 1024 * 1024, MIN_PART_SIZE), 3);
        assert_eq!(part_count(0, MIN_PART_SIZE), 1);
    }

    #[test]
    fn normalize() {
        assert_eq!(normalize_etag("\"ABC\"").as_deref(), Some("abc"));
        assert_eq!(normalize_etag("W/\"x-2\"").as_deref(), Some("x-2"));
        assert_eq!(normalize_etag("\"\""), None);
        assert!(is_plain_md5("d41d8cd98f00b204e9800998ecf8427e"));
        assert!(!is_plain_md5("d41d8cd98f00b204e9800998ecf8427e-2"));
    }
}
