//! Where managed paths really are, and the only writer of files.
//! lempctl names every path as on a real host (`/etc/nginx/…`); `Root` maps it under `--root`.
//! Every change goes through a `Journal`, so a failed run can put each path back as it was.
#![allow(clippy::disallowed_methods)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::accounts;

/// Owner and mode of a file or directory, by name (resolved when applied: the user may be new).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Perms {
    pub user: String,
    pub group: String,
    pub mode: u32,
}

impl Perms {
    pub fn new(user: &str, group: &str, mode: u32) -> Self {
        Self {
            user: user.to_owned(),
            group: group.to_owned(),
            mode,
        }
    }
    pub fn root(mode: u32) -> Self {
        Self::new("root", "root", mode)
    }
}

/// What a path held before this run touched it.
#[derive(Debug, Clone)]
pub enum Previous {
    Absent,
    /// Nothing was there; the run created a whole tree (undo removes it recursively).
    AbsentTree,
    File {
        contents: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Symlink {
        target: PathBuf,
    },
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

/// One undo step, in the order the changes were made.
#[derive(Debug, Clone)]
pub struct Undo {
    pub path: PathBuf,
    pub previous: Previous,
}

/// What this run changed on disk, so it can be rolled back in reverse order.
#[derive(Debug, Default)]
pub struct Journal {
    pub steps: Vec<Undo>,
    /// When set, directory fsyncs are deferred to `Root::sync_dirs` (the engine's bulk writes).
    pub batch: bool,
    /// Directories with renames not yet made durable (synced once each by `sync_dirs`).
    pub dirty_dirs: std::collections::BTreeSet<PathBuf>,
}

/// `/` in production, a sandbox or temp dir in tests.
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    pub fn new(dir: &Path) -> Result<Self> {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from("/")
        } else {
            dir.to_path_buf()
        };
        let dir = if dir.is_absolute() {
            dir
        } else {
            std::env::current_dir()
                .context("reading the current directory")?
                .join(dir)
        };
        Ok(Self { dir })
    }

    /// True when the root is `/` (a real host, not a sandbox).
    pub fn is_host(&self) -> bool {
        self.dir == Path::new("/")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `/etc/nginx/nginx.conf` → `<root>/etc/nginx/nginx.conf`.
    pub fn path(&self, host_path: &Path) -> PathBuf {
        match host_path.strip_prefix("/") {
            Ok(rel) => self.dir.join(rel),
            Err(_) => self.dir.join(host_path),
        }
    }

    /// Contents of a file, `None` when it does not exist.
    pub fn read(&self, host_path: &Path) -> Result<Option<Vec<u8>>> {
        let p = self.path(host_path);
        match fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
        }
    }

    /// The state of a path, as needed to undo a change to it.
    pub fn previous(&self, host_path: &Path) -> Result<Previous> {
        let p = self.path(host_path);
        let meta = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Previous::Absent),
            Err(e) => return Err(e).with_context(|| format!("inspecting {}", p.display())),
        };
        let mode = meta.mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target =
                fs::read_link(&p).with_context(|| format!("reading link {}", p.display()))?;
            Ok(Previous::Symlink { target })
        } else if meta.is_dir() {
            Ok(Previous::Dir {
                mode,
                uid: meta.uid(),
                gid: meta.gid(),
            })
        } else {
            let contents = fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            Ok(Previous::File {
                contents,
                mode,
                uid: meta.uid(),
                gid: meta.gid(),
            })
        }
    }

    /// Temp file in the same dir, fsync, chown/chmod, rename over; the old content goes to `journal`.
    pub fn write_atomic(
        &self,
        journal: &mut Journal,
        host_path: &Path,
        contents: &[u8],
        perms: &Perms,
    ) -> Result<()> {
        let previous = self.previous(host_path)?;
        let p = self.path(host_path);
        let parent = p.parent().context("a file path has a parent")?;
        self.create_parents(journal, host_path)?;
        let (uid, gid) = accounts::resolve(&perms.user, &perms.group)?;
        let tmp = parent.join(format!(
            ".{}.lempctl-tmp-{}",
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        let write = || -> Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode_0600()
                .open(&tmp)?;
            f.write_all(contents)?;
            f.sync_all()?;
            std::os::unix::fs::chown(&tmp, Some(uid), Some(gid))?;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(perms.mode))?;
            fs::rename(&tmp, &p)?;
            Ok(())
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(e.context(format!("writing {}", p.display())));
        }
        if journal.batch {
            journal.dirty_dirs.insert(parent.to_path_buf());
        } else {
            sync_dir(parent);
        }
        journal.steps.push(Undo {
            path: host_path.to_path_buf(),
            previous,
        });
        Ok(())
    }

    /// Creates (or re-points) a symlink atomically.
    pub fn symlink(&self, journal: &mut Journal, host_path: &Path, target: &Path) -> Result<()> {
        let previous = self.previous(host_path)?;
        self.create_parents(journal, host_path)?;
        let p = self.path(host_path);
        let tmp = p.with_file_name(format!(".lempctl-link-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp)
            .with_context(|| format!("creating link {}", p.display()))?;
        fs::rename(&tmp, &p).with_context(|| format!("creating link {}", p.display()))?;
        journal.steps.push(Undo {
            path: host_path.to_path_buf(),
            previous,
        });
        Ok(())
    }

    /// Creates a directory (or fixes its owner and mode) explicitly, never relying on the umask.
    pub fn ensure_dir(&self, journal: &mut Journal, host_path: &Path, perms: &Perms) -> Result<()> {
        let previous = self.previous(host_path)?;
        let p = self.path(host_path);
        if let Previous::Absent = previous {
            self.create_parents(journal, host_path)?;
            fs::create_dir(&p).with_context(|| format!("creating {}", p.display()))?;
        }
        let (uid, gid) = accounts::resolve(&perms.user, &perms.group)?;
        std::os::unix::fs::chown(&p, Some(uid), Some(gid))
            .with_context(|| format!("chown {}", p.display()))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(perms.mode))
            .with_context(|| format!("chmod {}", p.display()))?;
        journal.steps.push(Undo {
            path: host_path.to_path_buf(),
            previous,
        });
        Ok(())
    }

    /// Removes a file or symlink; the old content goes to `journal`.
    pub fn remove(&self, journal: &mut Journal, host_path: &Path) -> Result<()> {
        let previous = self.previous(host_path)?;
        if let Previous::Absent = previous {
            return Ok(());
        }
        let p = self.path(host_path);
        if let Previous::Dir { .. } = previous {
            // Only empty directories are removed by the engine; data is never deleted here.
            match fs::remove_dir(&p) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOTEMPTY) => return Ok(()),
                Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
            }
        } else {
            fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
        journal.steps.push(Undo {
            path: host_path.to_path_buf(),
            previous,
        });
        Ok(())
    }

    /// Deletes a whole tree (site data after it was archived). Not journaled: callers archive first.
    pub fn remove_tree(&self, host_path: &Path) -> Result<()> {
        let p = self.path(host_path);
        match fs::remove_dir_all(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing {}", p.display())),
        }
    }

    /// Copies the tree `src` (a real path, symlinks followed) into the directory `dest` (a host
    /// path), skipping top-level names in `skip`, with explicit owner and modes. Each top-level
    /// entry is staged in `stage` (a host path on the same file system) and renamed into place, so
    /// a failed copy leaves nothing behind and the journal can remove what was added.
    #[allow(clippy::too_many_arguments)]
    pub fn copy_tree(
        &self,
        journal: &mut Journal,
        src: &Path,
        dest: &Path,
        stage: &Path,
        skip: &[&str],
        dir_perms: &Perms,
        file_perms: &Perms,
    ) -> Result<usize> {
        let (duid, dgid) = accounts::resolve(&dir_perms.user, &dir_perms.group)?;
        let (fuid, fgid) = accounts::resolve(&file_perms.user, &file_perms.group)?;
        let real_stage = self.path(stage);
        if real_stage.exists() {
            fs::remove_dir_all(&real_stage)
                .with_context(|| format!("removing {}", real_stage.display()))?;
        }
        fs::create_dir_all(&real_stage)
            .with_context(|| format!("creating {}", real_stage.display()))?;
        let copy = || -> Result<usize> {
            let mut n = 0;
            for entry in walkdir::WalkDir::new(src).follow_links(true).min_depth(1) {
                let entry = entry.with_context(|| format!("reading {}", src.display()))?;
                let rel = entry
                    .path()
                    .strip_prefix(src)
                    .context("walked path is inside the source")?;
                if rel
                    .components()
                    .next()
                    .is_some_and(|c| skip.iter().any(|s| c.as_os_str() == *s))
                {
                    continue;
                }
                let to = real_stage.join(rel);
                if entry.file_type().is_dir() {
                    fs::create_dir(&to).with_context(|| format!("creating {}", to.display()))?;
                    std::os::unix::fs::chown(&to, Some(duid), Some(dgid))?;
                    fs::set_permissions(&to, fs::Permissions::from_mode(dir_perms.mode))?;
                } else {
                    fs::copy(entry.path(), &to)
                        .with_context(|| format!("copying {}", entry.path().display()))?;
                    std::os::unix::fs::chown(&to, Some(fuid), Some(fgid))?;
                    fs::set_permissions(&to, fs::Permissions::from_mode(file_perms.mode))?;
                    n += 1;
                }
            }
            Ok(n)
        };
        let n = match copy() {
            Ok(n) => n,
            Err(e) => {
                let _ = fs::remove_dir_all(&real_stage);
                return Err(e);
            }
        };
        let real_dest = self.path(dest);
        for entry in fs::read_dir(&real_stage)
            .with_context(|| format!("reading {}", real_stage.display()))?
        {
            let entry = entry?;
            let name = entry.file_name();
            let target = real_dest.join(&name);
            if target.exists() {
                continue;
            }
            fs::rename(entry.path(), &target)
                .with_context(|| format!("moving {} into place", target.display()))?;
            journal.steps.push(Undo {
                path: dest.join(&name),
                previous: Previous::AbsentTree,
            });
        }
        fs::remove_dir_all(&real_stage)
            .with_context(|| format!("removing {}", real_stage.display()))?;
        Ok(n)
    }

    /// Removes everything inside a directory (a cache), keeping the directory.
    pub fn clear_dir(&self, host_path: &Path) -> Result<usize> {
        let p = self.path(host_path);
        let mut n = 0;
        let entries = match fs::read_dir(&p) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
        };
        for e in entries {
            let e = e?;
            if e.file_type()?.is_dir() {
                fs::remove_dir_all(e.path())?;
            } else {
                fs::remove_file(e.path())?;
            }
            n += 1;
        }
        Ok(n)
    }

    /// Makes the renames of this run durable: one fsync per directory written to, instead of one
    /// per file (a run over 1,000 sites writes thousands of files into a handful of directories).
    pub fn sync_dirs(&self, journal: &mut Journal) {
        for d in std::mem::take(&mut journal.dirty_dirs) {
            sync_dir(&d);
        }
    }

    /// Writes a file that is not part of the managed set (state, credentials), atomically, without a journal.
    pub fn write_private(&self, host_path: &Path, contents: &[u8], mode: u32) -> Result<()> {
        let mut scratch = Journal::default();
        self.write_atomic(&mut scratch, host_path, contents, &Perms::root(mode))
    }

    fn create_parents(&self, journal: &mut Journal, host_path: &Path) -> Result<()> {
        let Some(parent) = host_path.parent() else {
            return Ok(());
        };
        if self.path(parent).exists() {
            return Ok(());
        }
        self.create_parents(journal, parent)?;
        let p = self.path(parent);
        fs::create_dir(&p).with_context(|| format!("creating {}", p.display()))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("chmod {}", p.display()))?;
        journal.steps.push(Undo {
            path: parent.to_path_buf(),
            previous: Previous::Absent,
        });
        Ok(())
    }

    /// Puts every path of the journal back as it was, newest change first.
    pub fn rollback(&self, journal: &mut Journal) -> Vec<String> {
        let mut problems = Vec::new();
        while let Some(step) = journal.steps.pop() {
            if let Err(e) = self.restore(&step) {
                problems.push(format!("{}: {e:#}", step.path.display()));
            }
        }
        problems
    }

    fn restore(&self, step: &Undo) -> Result<()> {
        let p = self.path(&step.path);
        match &step.previous {
            Previous::AbsentTree => {
                if p.exists() {
                    fs::remove_dir_all(&p)?;
                }
            }
            Previous::Absent => match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {
                    let _ = fs::remove_dir(&p);
                }
                Ok(_) => fs::remove_file(&p)?,
                Err(_) => {}
            },
            Previous::File {
                contents,
                mode,
                uid,
                gid,
            } => {
                let tmp = p.with_file_name(format!(".lempctl-restore-{}", std::process::id()));
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode_0600()
                    .open(&tmp)?;
                f.write_all(contents)?;
                f.sync_all()?;
                std::os::unix::fs::chown(&tmp, Some(*uid), Some(*gid))?;
                fs::set_permissions(&tmp, fs::Permissions::from_mode(*mode))?;
                if fs::symlink_metadata(&p)
                    .map(|m| m.is_dir())
                    .unwrap_or(false)
                {
                    fs::remove_dir(&p)?;
                }
                fs::rename(&tmp, &p)?;
            }
            Previous::Symlink { target } => {
                let tmp = p.with_file_name(format!(".lempctl-restore-{}", std::process::id()));
                let _ = fs::remove_file(&tmp);
                std::os::unix::fs::symlink(target, &tmp)?;
                fs::rename(&tmp, &p)?;
            }
            Previous::Dir { mode, uid, gid } => {
                if !p.exists() {
                    fs::create_dir(&p)?;
                }
                std::os::unix::fs::chown(&p, Some(*uid), Some(*gid))?;
                fs::set_permissions(&p, fs::Permissions::from_mode(*mode))?;
            }
        }
        Ok(())
    }
}

trait OpenPrivate {
    fn mode_0600(&mut self) -> &mut Self;
}
impl OpenPrivate for fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

fn sync_dir(dir: &Path) {
    // Makes the rename durable; failure to fsync a directory is not worth failing the run for.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_host_paths_under_the_root() {
        let r = Root::new(Path::new("/tmp/sb")).unwrap();
        assert_eq!(
            r.path(Path::new("/etc/nginx/nginx.conf")),
            PathBuf::from("/tmp/sb/etc/nginx/nginx.conf")
        );
        assert!(Root::new(Path::new("/")).unwrap().is_host());
    }

    #[test]
    fn write_then_rollback_restores_previous_state() {
        let dir = tempfile::tempdir().unwrap();
        let r = Root::new(dir.path()).unwrap();
        let mut j = Journal::default();
        let p = Path::new("/etc/a/b.conf");
        r.write_atomic(&mut j, p, b"one", &Perms::root(0o644))
            .unwrap();
        let mut j2 = Journal::default();
        r.write_atomic(&mut j2, p, b"two", &Perms::root(0o640))
            .unwrap();
        assert_eq!(r.read(p).unwrap().unwrap(), b"two");
        r.rollback(&mut j2);
        assert_eq!(r.read(p).unwrap().unwrap(), b"one");
        r.rollback(&mut j);
        assert!(!r.path(Path::new("/etc")).exists());
    }
}
