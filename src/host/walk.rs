//! Descriptor-based path resolution: the only way lempctl reaches a path that a site user may
//! control. A path is walked one component at a time from a directory lempctl trusts, each step an
//! `openat` with `O_NOFOLLOW`, so a name swapped for a link after a check cannot redirect the next
//! step. Callers act on the descriptors they get back (`fchown`, `fchmod`, `renameat` in the
//! parent), never on the path again.
//!
//! A symbolic link on the way is followed only when root made it in a directory only root can
//! write (`/var/run → /run`, an admin's `/srv/www → /data/www`): a site user can create neither.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

/// Opens the directory `path` as a trusted starting point (the `--root` directory, a site's
/// source tree named in the configuration).
pub(crate) fn open_start(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        rustix::fs::CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Why a walk stopped.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("{0}: no such file or directory")]
    NotFound(PathBuf),
    #[error(
        "{path}: refusing to follow a symbolic link owned by uid {uid} (only links root made in directories only root can write are followed; a site user may have planted it)"
    )]
    UntrustedLink { path: PathBuf, uid: u32 },
    #[error("{path} is a {kind}, not a {wanted}")]
    WrongKind {
        path: PathBuf,
        kind: &'static str,
        wanted: &'static str,
    },
    #[error(
        "{path}: a symbolic link or `..` on the way below {base}; refusing (a site user may have planted it)"
    )]
    LinkBelow { path: PathBuf, base: PathBuf },
    #[error("{path}: `..` is not allowed in a managed path")]
    DotDot { path: PathBuf },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl WalkError {
    pub fn io(path: &Path, e: impl Into<io::Error>) -> Self {
        WalkError::Io {
            path: path.to_path_buf(),
            source: e.into(),
        }
    }
    pub fn is_not_found(&self) -> bool {
        matches!(self, WalkError::NotFound(_))
    }
}

/// A word for a file type in messages.
pub(crate) fn kind_name(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "file of unknown type",
    }
}

pub(crate) fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// `lstat` of `name` in `dir`; `None` when absent.
pub(crate) fn lstat_at(dir: impl AsFd, name: &OsStr) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// True when `link` (an lstat) in the directory `dir` may be followed: root made it, in a
/// directory no one but root can write to.
pub(crate) fn trusted_link(dir: impl AsFd, link: &Stat) -> io::Result<bool> {
    let d = rustix::fs::fstat(dir)?;
    Ok(link.st_uid == 0 && d.st_uid == 0 && d.st_mode & 0o022 == 0)
}

/// The `Normal` components of a relative path; `..` refused, `.` and `/` skipped.
pub(crate) fn components(shown: &Path, rel: &Path) -> Result<Vec<OsString>, WalkError> {
    let mut out = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => {
                return Err(WalkError::DotDot {
                    path: shown.to_path_buf(),
                });
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

/// Opens the directory `name` in `dir` without following an untrusted link.
pub(crate) fn open_subdir(dir: &OwnedFd, name: &OsStr, shown: &Path) -> Result<OwnedFd, WalkError> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags | OFlags::NOFOLLOW, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(Errno::NOENT) => Err(WalkError::NotFound(shown.to_path_buf())),
        Err(Errno::LOOP | Errno::NOTDIR) => {
            let st = lstat_at(dir, name)
                .map_err(|e| WalkError::io(shown, e))?
                .ok_or_else(|| WalkError::NotFound(shown.to_path_buf()))?;
            let t = file_type(&st);
            if t != FileType::Symlink {
                return Err(WalkError::WrongKind {
                    path: shown.to_path_buf(),
                    kind: kind_name(t),
                    wanted: "directory",
                });
            }
            if !trusted_link(dir, &st).map_err(|e| WalkError::io(shown, e))? {
                return Err(WalkError::UntrustedLink {
                    path: shown.to_path_buf(),
                    uid: st.st_uid,
                });
            }
            match rustix::fs::openat(dir, name, flags, Mode::empty()) {
                Ok(fd) => Ok(fd),
                Err(Errno::NOENT) => Err(WalkError::NotFound(shown.to_path_buf())),
                Err(e) => Err(WalkError::io(shown, e)),
            }
        }
        Err(e) => Err(WalkError::io(shown, e)),
    }
}

/// Walks `rel` (all of it) from `start` to a directory.
pub(crate) fn open_dir_at(start: &OwnedFd, shown: &Path, rel: &Path) -> Result<OwnedFd, WalkError> {
    let mut fd = rustix::io::dup(start).map_err(|e| WalkError::io(shown, e))?;
    let mut so_far = PathBuf::from("/");
    for c in components(shown, rel)? {
        so_far.push(&c);
        fd = open_subdir(&fd, &c, &so_far)?;
    }
    Ok(fd)
}

/// Opens the regular file `name` in `dir` for reading: no link is followed (unless trusted, see
/// the module), and a FIFO or device is refused instead of blocking the run.
pub(crate) fn open_regular(dir: &OwnedFd, name: &OsStr, shown: &Path) -> Result<File, WalkError> {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let fd = match rustix::fs::openat(dir, name, flags | OFlags::NOFOLLOW, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Err(WalkError::NotFound(shown.to_path_buf())),
        Err(Errno::LOOP) => {
            let st = lstat_at(dir, name)
                .map_err(|e| WalkError::io(shown, e))?
                .ok_or_else(|| WalkError::NotFound(shown.to_path_buf()))?;
            if !trusted_link(dir, &st).map_err(|e| WalkError::io(shown, e))? {
                return Err(WalkError::UntrustedLink {
                    path: shown.to_path_buf(),
                    uid: st.st_uid,
                });
            }
            rustix::fs::openat(dir, name, flags, Mode::empty())
                .map_err(|e| WalkError::io(shown, e))?
        }
        Err(e) => return Err(WalkError::io(shown, e)),
    };
    require_regular(fd, shown)
}

fn require_regular(fd: OwnedFd, shown: &Path) -> Result<File, WalkError> {
    let st = rustix::fs::fstat(&fd).map_err(|e| WalkError::io(shown, e))?;
    let t = file_type(&st);
    if t != FileType::RegularFile {
        return Err(WalkError::WrongKind {
            path: shown.to_path_buf(),
            kind: kind_name(t),
            wanted: "regular file",
        });
    }
    // O_NONBLOCK only mattered for the open (a FIFO would have blocked it).
    let fl = rustix::fs::fcntl_getfl(&fd).map_err(|e| WalkError::io(shown, e))?;
    rustix::fs::fcntl_setfl(&fd, fl - OFlags::NONBLOCK).map_err(|e| WalkError::io(shown, e))?;
    Ok(File::from(fd))
}

/// Opens the regular file `rel` below the directory `base` for reading, refusing every symbolic
/// link on the way and any escape from `base` (`openat2` with `RESOLVE_BENEATH` and
/// `RESOLVE_NO_SYMLINKS`). For readers of site trees: S3 sync, backups.
pub(crate) fn open_beneath(
    base: &OwnedFd,
    rel: &Path,
    shown_base: &Path,
) -> Result<File, WalkError> {
    let shown = &shown_base.join(rel);
    let fd = rustix::fs::openat2(
        base,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| match e {
        Errno::NOENT => WalkError::NotFound(shown.to_path_buf()),
        Errno::LOOP | Errno::XDEV => WalkError::LinkBelow {
            path: shown.to_path_buf(),
            base: shown_base.to_path_buf(),
        },
        e => WalkError::io(shown, e),
    })?;
    require_regular(fd, shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_is_refused() {
        let e = components(Path::new("/a/../b"), Path::new("a/../b")).unwrap_err();
        assert!(matches!(e, WalkError::DotDot { .. }));
    }
}
