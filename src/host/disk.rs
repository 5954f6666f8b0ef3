//! Free space and inodes of the filesystem that holds a path (`statvfs`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Space and inodes of one filesystem, as an unprivileged user sees them (`f_bavail`,
/// `f_favail`: the blocks reserved for root do not count as free).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Usage {
    /// The device, to tell filesystems apart.
    pub device: u64,
    /// The existing path that was measured (the nearest existing ancestor of the one asked for).
    pub measured: PathBuf,
    pub total_bytes: u64,
    pub free_bytes: u64,
    /// 0 for filesystems without an inode table (btrfs): no inode figure then.
    pub total_inodes: u64,
    pub free_inodes: u64,
}

impl Usage {
    /// Free space in percent of the size.
    pub(crate) fn free_bytes_pct(&self) -> f64 {
        pct(self.free_bytes, self.total_bytes)
    }

    /// Free inodes in percent, `None` without an inode table.
    pub(crate) fn free_inodes_pct(&self) -> Option<f64> {
        (self.total_inodes > 0).then(|| pct(self.free_inodes, self.total_inodes))
    }
}

fn pct(free: u64, total: u64) -> f64 {
    if total == 0 {
        100.0
    } else {
        free as f64 * 100.0 / total as f64
    }
}

/// The usage of the filesystem that holds `path` (a real path), or would hold it: a path that
/// does not exist yet is measured at its nearest existing ancestor.
pub(crate) fn usage(path: &Path) -> Result<Usage> {
    let mut p = path;
    while std::fs::symlink_metadata(p).is_err() {
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    let st = rustix::fs::statvfs(p).with_context(|| format!("statvfs {}", p.display()))?;
    let dev = rustix::fs::stat(p).with_context(|| format!("stat {}", p.display()))?;
    let unit = st.f_frsize.max(1);
    Ok(Usage {
        device: dev.st_dev,
        measured: p.to_path_buf(),
        total_bytes: st.f_blocks.saturating_mul(unit),
        free_bytes: st.f_bavail.saturating_mul(unit),
        total_inodes: st.f_files,
        free_inodes: st.f_favail,
    })
}
