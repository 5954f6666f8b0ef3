//! The files of a backup repository that lempctl reads and writes itself (key files, lock files),
//! in a local directory (through the rooted writer) or under an S3 prefix.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::config::global::BackupGlobal;
use crate::host::{Journal, Root};
use crate::services::s3::Objects;

pub(crate) enum RepoFiles<'a> {
    Local {
        root: &'a Root,
        /// The repository directory (a host path).
        dir: PathBuf,
    },
    S3 {
        objects: Objects,
        rt: tokio::runtime::Runtime,
    },
}

impl<'a> RepoFiles<'a> {
    pub(crate) fn open(root: &'a Root, cfg: &BackupGlobal) -> Result<Self> {
        Ok(match cfg.local_path() {
            Some(dir) => RepoFiles::Local { root, dir },
            None => {
                let rt = super::database::runtime()?;
                let url = cfg
                    .repository
                    .strip_prefix("s3:")
                    .context("an s3: repository")?;
                let objects = rt.block_on(Objects::from_url(url))?;
                RepoFiles::S3 { objects, rt }
            }
        })
    }

    /// Names of the files in `dir` (`keys`, `locks`); none when it does not exist.
    pub(crate) fn list(&self, dir: &str) -> Result<Vec<String>> {
        match self {
            RepoFiles::Local { root, dir: repo } => {
                let path = root.path(&repo.join(dir));
                let entries = match std::fs::read_dir(&path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    r => r.with_context(|| format!("reading {}", path.display()))?,
                };
                let mut v = Vec::new();
                for e in entries {
                    v.push(e?.file_name().to_string_lossy().into_owned());
                }
                Ok(v)
            }
            RepoFiles::S3 { objects, rt } => rt.block_on(objects.list(dir)),
        }
    }

    /// The file `dir/name`, `None` when it is gone.
    pub(crate) fn get(&self, dir: &str, name: &str) -> Result<Option<Vec<u8>>> {
        match self {
            RepoFiles::Local { root, dir: repo } => root.read(&repo.join(dir).join(name)),
            RepoFiles::S3 { objects, rt } => {
                rt.block_on(objects.get(&format!("{dir}/{name}"))).map(Some)
            }
        }
    }

    pub(crate) fn put(&self, dir: &str, name: &str, bytes: &[u8]) -> Result<()> {
        match self {
            // restic keeps its files read-only
            RepoFiles::Local { root, dir: repo } => {
                root.write_private(&repo.join(dir).join(name), bytes, 0o400)
            }
            RepoFiles::S3 { objects, rt } => {
                rt.block_on(objects.put(&format!("{dir}/{name}"), bytes.to_vec()))
            }
        }
    }

    pub(crate) fn delete(&self, dir: &str, name: &str) -> Result<()> {
        match self {
            RepoFiles::Local { root, dir: repo } => {
                root.remove(&mut Journal::default(), &repo.join(dir).join(name))
            }
            RepoFiles::S3 { objects, rt } => rt.block_on(objects.delete(&format!("{dir}/{name}"))),
        }
    }

    /// Whether lock files need a wait between writing and re-reading the listing: restic waits
    /// 200 ms for backends whose listings may lag; a local directory's never does.
    pub(crate) fn listing_may_lag(&self) -> bool {
        matches!(self, RepoFiles::S3 { .. })
    }
}
