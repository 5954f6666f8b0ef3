//! Local side: walk the source tree, apply excludes, hash files in parallel.
//! Invariant: every `LocalFile::rel` is a `/`-separated UTF-8 path relative to the source root
//! that the exclude set did not match; hashing never changes the file list.

use super::etag;
use super::rules::Excludes;
use crate::host::walk;
use anyhow::{Context, Result, bail};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LocalFile {
    pub rel: String,
    pub path: PathBuf,
    pub size: u64,
    /// Whole-file MD5 (lowercase hex); empty until hashed.
    pub md5: String,
    /// Multipart ETag for files above the multipart threshold.
    pub multipart_etag: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct Scan {
    pub files: Vec<LocalFile>,
    pub excluded: u64,
    /// Symbolic links met and left out: a link is never published.
    pub links_skipped: u64,
    /// The source directory, opened once; every file is opened below it (`Source::open`).
    pub source: Option<Source>,
}

/// The source tree of a sync. The site user owns it and may swap any name for a link at any
/// moment, so files are opened below this descriptor with every link refused, never by path.
#[derive(Debug, Clone)]
pub(super) struct Source {
    fd: Arc<OwnedFd>,
    path: PathBuf,
}

impl Source {
    /// Opens `path` walking from `/`, refusing a link the site user could have made.
    pub(super) fn open_dir(path: &Path) -> Result<Self> {
        let start = walk::open_start(Path::new("/"))?;
        let fd = walk::open_dir_at(&start, path, path)?;
        Ok(Self {
            fd: Arc::new(fd),
            path: path.to_path_buf(),
        })
    }

    /// The regular file `rel` (`/`-separated) below the source.
    pub(super) fn open(&self, rel: &str) -> Result<std::fs::File> {
        Ok(walk::open_beneath(&self.fd, Path::new(rel), &self.path)?)
    }
}

/// Walk `root` without following links (a link is counted and left out), skipping excluded
/// paths. Sorted by `rel`.
pub(super) fn scan(root: &Path, excludes: &Excludes) -> Result<Scan> {
    let mut out = Scan {
        source: Some(Source::open_dir(root)?),
        ..Scan::default()
    };
    let mut it = walkdir::WalkDir::new(root).follow_links(false).into_iter();
    while let Some(entry) = it.next() {
        let entry = entry.with_context(|| format!("walking {}", root.display()))?;
        if entry.depth() == 0 {
            continue;
        }
        let rel_path = entry
            .path()
            .strip_prefix(root)
            .with_context(|| format!("{} is outside {}", entry.path().display(), root.display()))?;
        let Some(rel) = rel_path.to_str() else {
            bail!("file name is not valid UTF-8: {}", entry.path().display());
        };
        let rel = rel.replace(std::path::MAIN_SEPARATOR, "/");
        if entry.file_type().is_dir() {
            if excludes.is_excluded_dir(&rel) {
                tracing::debug!(dir = %rel, "excluded directory");
                out.excluded += 1;
                it.skip_current_dir();
            }
            continue;
        }
        if entry.file_type().is_symlink() {
            tracing::warn!("{}: a symbolic link, not published", entry.path().display());
            out.links_skipped += 1;
            continue;
        }
        if !entry.file_type().is_file() {
            continue;
        }
        if excludes.is_excluded(&rel) {
            out.excluded += 1;
            continue;
        }
        let size = entry
            .metadata()
            .with_context(|| format!("stat {}", entry.path().display()))?
            .len();
        out.files.push(LocalFile {
            rel,
            path: entry.path().to_path_buf(),
            size,
            md5: String::new(),
            multipart_etag: None,
        });
    }
    out.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// Hash every file on `threads` OS threads (blocking; call from `spawn_blocking`).
pub(super) fn hash_all(
    source: &Source,
    files: &mut [LocalFile],
    threshold: u64,
    part_size: u64,
    threads: usize,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<etag::Digests>>>> =
        files.iter().map(|_| Mutex::new(None)).collect();
    let threads = threads.clamp(1, files.len().max(1));
    let files_ro: &[LocalFile] = files;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(f) = files_ro.get(i) else { break };
                    let r = source
                        .open(&f.rel)
                        .and_then(|file| Ok(etag::hash_file(file, f.size, threshold, part_size)?));
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    for (f, slot) in files.iter_mut().zip(results) {
        let r = slot
            .into_inner()
            .ok()
            .flatten()
            .with_context(|| format!("hashing {} did not complete", f.path.display()))?;
        let d = r.with_context(|| format!("reading {}", f.path.display()))?;
        f.md5 = d.md5;
        f.multipart_etag = d.multipart;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // test fixtures are written directly, not through host::Root
mod tests {
    use super::*;
    use crate::services::s3::rules::default_excludes;

    #[test]
    fn scan_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join("index.html"), "hi").unwrap();
        std::fs::write(root.join("a/b/c.txt"), "abc").unwrap();
        std::fs::write(root.join(".git/HEAD"), "x").unwrap();
        std::fs::write(root.join("wp-login.php"), "x").unwrap();
        let ex = Excludes::new(&default_excludes()).unwrap();
        let mut s = scan(root, &ex).unwrap();
        let rels: Vec<_> = s.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["a/b/c.txt", "index.html"]);
        assert_eq!(s.excluded, 2);
        assert_eq!(s.links_skipped, 0);
        let source = s.source.clone().unwrap();
        hash_all(&source, &mut s.files, 1, 5 << 20, 2).unwrap();
        assert_eq!(s.files[0].md5, "900150983cd24fb0d6963f7d28e17f72");
        assert!(
            s.files[0]
                .multipart_etag
                .as_deref()
                .unwrap()
                .ends_with("-1")
        );
    }
}
