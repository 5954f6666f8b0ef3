//! The manifest: what a run holds besides the data (file count and size, a checksummed sample of
//! files, the dump's tables and checksum), written before the files snapshot and stored in it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::backup_dir;
use crate::config::global::Global;
use crate::host::walk;
use crate::services::restic::excludes::excluded;

/// How many files of a site are checksummed in the manifest (evenly spread over the sorted list).
const SAMPLE: usize = 24;

/// What a backup holds besides the data, written before the files snapshot and stored in it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub site: String,
    pub run: String,
    pub time: String,
    /// Regular files of the site tree in the snapshot (excludes applied).
    pub files: u64,
    pub file_bytes: u64,
    /// `(path relative to the site directory, sha256)` of a sample of files.
    pub sample: Vec<(String, String)>,
    pub database: Option<String>,
    /// Rows per table, counted in the dump stream.
    pub tables: BTreeMap<String, u64>,
    pub dump_sha256: Option<String>,
    pub dump_bytes: u64,
    /// The `db` snapshot holding the dump (an earlier run's when the database was unchanged).
    #[serde(default)]
    pub db_snapshot: Option<String>,
}

pub(super) fn manifest_path(g: &Global, site: &str) -> PathBuf {
    backup_dir(g).join("manifests").join(format!("{site}.json"))
}

/// SHA-256 of the regular file `rel` below `dir`, opened without following any link: the site
/// user may swap a walked name for a link before it is read.
pub(super) fn sha256_file(dir: &std::os::fd::OwnedFd, shown: &Path, rel: &Path) -> Result<String> {
    let mut f = walk::open_beneath(dir, rel, shown)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Regular files under `dir` (real path) not excluded: sorted relative paths and total size.
pub(super) fn site_files(dir: &Path, globs: &[String]) -> Result<(Vec<String>, u64)> {
    let mut files = Vec::new();
    let mut bytes = 0;
    let mut it = walkdir::WalkDir::new(dir).min_depth(1).into_iter();
    while let Some(e) = it.next() {
        let e = e.with_context(|| format!("reading {}", dir.display()))?;
        let rel = e.path().strip_prefix(dir).context("inside the site dir")?;
        let comps: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let refs: Vec<&str> = comps.iter().map(String::as_str).collect();
        if excluded(&refs, globs) {
            if e.file_type().is_dir() {
                it.skip_current_dir();
            }
            continue;
        }
        if e.file_type().is_file() {
            bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            files.push(comps.join("/"));
        }
    }
    files.sort();
    Ok((files, bytes))
}

/// The manifest's view of the site tree.
pub(super) struct SiteWalk {
    pub(super) files: u64,
    pub(super) bytes: u64,
    /// (relative path, SHA-256) of a sample of the files
    pub(super) sample: Vec<(String, String)>,
}

pub(super) fn walk_site(dir: &Path, globs: &[String]) -> Result<SiteWalk> {
    let (files, bytes) = site_files(dir, globs)?;
    let dir_fd = walk::open_start(dir).with_context(|| format!("opening {}", dir.display()))?;
    let mut sampled = Vec::new();
    for f in sample(&files) {
        sampled.push((f.clone(), sha256_file(&dir_fd, dir, Path::new(f))?));
    }
    Ok(SiteWalk {
        files: files.len() as u64,
        bytes,
        sample: sampled,
    })
}

fn sample(files: &[String]) -> Vec<&String> {
    if files.len() <= SAMPLE {
        return files.iter().collect();
    }
    (0..SAMPLE)
        .map(|i| &files[i * files.len() / SAMPLE])
        .collect()
}
