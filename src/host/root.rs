//! Where managed paths really are, and the only writer of files.
//! lempctl names every path as on a real host (`/etc/nginx/…`); `Root` maps it under `--root`.
//! Every change goes through a `Journal`, so a failed run can put each path back as it was.
//!
//! Site users own parts of the trees written here and may swap any name for a link at any
//! moment, so nothing here acts on a path by name after checking it: every path is walked from
//! the root directory with `host::walk` (no untrusted link followed), files are created under
//! random names with `O_EXCL | O_NOFOLLOW`, owner and mode are set on the open descriptor, and the
//! result is renamed into place inside the parent directory's descriptor.
#![allow(clippy::disallowed_methods)]

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, RenameFlags, Uid};
use rustix::io::Errno;

use super::accounts;
use super::walk::{self, WalkError};

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
    /// A regular file whose owner and mode changed, not its content (a log).
    Attrs {
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

impl Journal {
    /// Remembers what `path` held before this run changed it.
    fn record(&mut self, path: &Path, previous: Previous) {
        self.steps.push(Undo {
            path: path.to_path_buf(),
            previous,
        });
    }
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

    fn start(&self) -> Result<OwnedFd> {
        walk::open_start(&self.dir).with_context(|| format!("opening {}", self.dir.display()))
    }

    /// The directory `host_path`, walked from the root.
    pub fn open_dir(&self, host_path: &Path) -> Result<OwnedFd, WalkError> {
        let start = walk::open_start(&self.dir).map_err(|e| WalkError::io(&self.dir, e))?;
        walk::open_dir_at(&start, &self.path(host_path), host_path)
    }

    /// The parent directory of `host_path` and its last name; `None` when the parent is missing.
    fn parent(&self, host_path: &Path) -> Result<Option<(OwnedFd, OsString)>> {
        let (parent, name) = split(host_path)?;
        match self.open_dir(parent) {
            Ok(fd) => Ok(Some((fd, name))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The parent directory of `host_path`, created (root, 0755, journaled) where missing.
    fn parent_created(
        &self,
        journal: &mut Journal,
        host_path: &Path,
    ) -> Result<(OwnedFd, OsString)> {
        let (parent, name) = split(host_path)?;
        let shown = self.path(parent);
        let mut fd = self.start()?;
        let mut so_far = PathBuf::from("/");
        for c in walk::components(&shown, parent)? {
            so_far.push(&c);
            let real = self.path(&so_far);
            fd = match walk::open_subdir(&fd, &c, &real) {
                Ok(next) => next,
                Err(e) if e.is_not_found() => {
                    rustix::fs::mkdirat(&fd, c.as_os_str(), Mode::from_raw_mode(0o755))
                        .with_context(|| format!("creating {}", real.display()))?;
                    journal.steps.push(Undo {
                        path: so_far.clone(),
                        previous: Previous::Absent,
                    });
                    let next = walk::open_subdir(&fd, &c, &real)?;
                    // explicit, never the umask
                    rustix::fs::fchmod(&next, Mode::from_raw_mode(0o755))
                        .with_context(|| format!("chmod {}", real.display()))?;
                    next
                }
                Err(e) => return Err(e.into()),
            };
        }
        Ok((fd, name))
    }

    /// The host path of a real path under the root (`<root>/etc/x` → `/etc/x`).
    pub fn host_path(&self, real: &Path) -> PathBuf {
        match real.strip_prefix(&self.dir) {
            Ok(rel) => Path::new("/").join(rel),
            Err(_) => real.to_path_buf(),
        }
    }

    /// Creates the directory `host_path` and its missing parents (root, 0755), walked without
    /// following untrusted links; what exists is left as it is. Not journaled: for directories
    /// that hold data lempctl keeps (archives, dumps, the sandbox itself).
    pub fn create_dirs(&self, host_path: &Path) -> Result<()> {
        let mut scratch = Journal::default();
        let (dir, name) = match split(host_path) {
            Ok(_) => self.parent_created(&mut scratch, host_path)?,
            Err(_) => return Ok(()),
        };
        match rustix::fs::mkdirat(&dir, name.as_os_str(), Mode::from_raw_mode(0o755)) {
            Ok(()) => {
                let fd = walk::open_subdir(&dir, &name, &self.path(host_path))?;
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755))?;
                Ok(())
            }
            Err(Errno::EXIST) => {
                walk::open_subdir(&dir, &name, &self.path(host_path))?;
                Ok(())
            }
            Err(e) => {
                Err(e).with_context(|| format!("creating {}", self.path(host_path).display()))
            }
        }
    }

    /// Contents of a file, `None` when it does not exist. A FIFO, device or directory in its
    /// place is an error, never a read that blocks.
    pub fn read(&self, host_path: &Path) -> Result<Option<Vec<u8>>> {
        match self.parent(host_path)? {
            Some((dir, name)) => self.read_in(&dir, &name, host_path),
            None => Ok(None),
        }
    }

    /// The regular file `name` in the open directory `dir` (`host_path` names it in errors).
    fn read_in(&self, dir: &OwnedFd, name: &OsStr, host_path: &Path) -> Result<Option<Vec<u8>>> {
        let p = self.path(host_path);
        match walk::open_regular(dir, name, &p) {
            Ok(mut f) => {
                let mut b = Vec::new();
                f.read_to_end(&mut b)
                    .with_context(|| format!("reading {}", p.display()))?;
                Ok(Some(b))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// [`read`](Self::read) of many files, each directory walked to once (files listed by
    /// directory: 1,000 sites' vhosts share one), with the same no-follow opens.
    pub fn read_many(&self, host_paths: &[&Path]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut dirs: std::collections::HashMap<&Path, Option<OwnedFd>> =
            std::collections::HashMap::new();
        let mut out = Vec::with_capacity(host_paths.len());
        for host_path in host_paths {
            let (parent, name) = split(host_path)?;
            let dir = match dirs.entry(parent) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(match self.open_dir(parent) {
                        Ok(fd) => Some(fd),
                        Err(err) if err.is_not_found() => None,
                        Err(err) => return Err(err.into()),
                    })
                }
            };
            out.push(match dir {
                Some(dir) => self.read_in(dir, &name, host_path)?,
                None => None,
            });
        }
        Ok(out)
    }

    /// The state of a path, as needed to undo a change to it.
    pub fn previous(&self, host_path: &Path) -> Result<Previous> {
        match self.parent(host_path)? {
            None => Ok(Previous::Absent),
            Some((dir, name)) => previous_at(&dir, &name, &self.path(host_path)),
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
        let p = self.path(host_path);
        let (dir, name) = self.parent_created(journal, host_path)?;
        let previous = previous_at(&dir, &name, &p)?;
        let (uid, gid) = accounts::resolve(&perms.user, &perms.group)?;
        replace_file(&dir, &name, contents, uid, gid, perms.mode)
            .with_context(|| format!("writing {}", p.display()))?;
        let parent = p.parent().context("a file path has a parent")?;
        if journal.batch {
            journal.dirty_dirs.insert(parent.to_path_buf());
        } else {
            let _ = rustix::fs::fsync(&dir);
        }
        journal.record(host_path, previous);
        Ok(())
    }

    /// Creates (or re-points) a symlink atomically.
    pub fn symlink(&self, journal: &mut Journal, host_path: &Path, target: &Path) -> Result<()> {
        let p = self.path(host_path);
        let (dir, name) = self.parent_created(journal, host_path)?;
        let previous = previous_at(&dir, &name, &p)?;
        replace_link(&dir, &name, target)
            .with_context(|| format!("creating link {}", p.display()))?;
        journal.record(host_path, previous);
        Ok(())
    }

    /// Creates a directory (or fixes its owner and mode) explicitly, never relying on the umask.
    /// A link in its place is refused (unless root made it where only root can write).
    pub fn ensure_dir(&self, journal: &mut Journal, host_path: &Path, perms: &Perms) -> Result<()> {
        let p = self.path(host_path);
        let (uid, gid) = accounts::resolve(&perms.user, &perms.group)?;
        let (fd, previous) = if split(host_path).is_err() {
            // the root directory itself
            let fd = self.start()?;
            let st = rustix::fs::fstat(&fd)?;
            let previous = Previous::Dir {
                mode: st.st_mode & 0o7777,
                uid: st.st_uid,
                gid: st.st_gid,
            };
            (fd, previous)
        } else {
            let (dir, name) = self.parent_created(journal, host_path)?;
            let previous = previous_at(&dir, &name, &p)?;
            if let Previous::Absent = previous {
                rustix::fs::mkdirat(&dir, name.as_os_str(), Mode::from_raw_mode(0o700))
                    .with_context(|| format!("creating {}", p.display()))?;
            }
            (walk::open_subdir(&dir, &name, &p)?, previous)
        };
        set_owner_mode(&fd, uid, gid, perms.mode)
            .with_context(|| format!("chown/chmod {}", p.display()))?;
        journal.record(host_path, previous);
        Ok(())
    }

    /// Makes sure a log file exists with this owner and mode, without reading or changing what it
    /// holds. A link or anything but a regular file in its place is refused.
    pub fn ensure_log(&self, journal: &mut Journal, host_path: &Path, perms: &Perms) -> Result<()> {
        let p = self.path(host_path);
        let (uid, gid) = accounts::resolve(&perms.user, &perms.group)?;
        let (dir, name) = self.parent_created(journal, host_path)?;
        let (fd, previous) = match rustix::fs::openat(
            &dir,
            name.as_os_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => (fd, Previous::Absent),
            Err(Errno::EXIST) => {
                let f = walk::open_regular(&dir, &name, &p)?;
                let st = rustix::fs::fstat(&f)?;
                let previous = Previous::Attrs {
                    mode: st.st_mode & 0o7777,
                    uid: st.st_uid,
                    gid: st.st_gid,
                };
                (OwnedFd::from(f), previous)
            }
            Err(e) => return Err(e).with_context(|| format!("creating {}", p.display())),
        };
        set_owner_mode(&fd, uid, gid, perms.mode)
            .with_context(|| format!("chown/chmod {}", p.display()))?;
        journal.record(host_path, previous);
        Ok(())
    }

    /// Removes a file or symlink; the old content goes to `journal`.
    pub fn remove(&self, journal: &mut Journal, host_path: &Path) -> Result<()> {
        let Some((dir, name)) = self.parent(host_path)? else {
            return Ok(());
        };
        let p = self.path(host_path);
        let previous = previous_at(&dir, &name, &p)?;
        match previous {
            Previous::Absent => return Ok(()),
            // Only empty directories are removed by the engine; data is never deleted here.
            Previous::Dir { .. } => {
                match rustix::fs::unlinkat(&dir, name.as_os_str(), AtFlags::REMOVEDIR) {
                    Ok(()) => {}
                    Err(Errno::NOTEMPTY) => return Ok(()),
                    Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
                }
            }
            _ => rustix::fs::unlinkat(&dir, name.as_os_str(), AtFlags::empty())
                .with_context(|| format!("removing {}", p.display()))?,
        }
        journal.record(host_path, previous);
        Ok(())
    }

    /// Deletes a whole tree (site data after it was archived). Not journaled: callers archive
    /// first. Links inside are removed, never followed.
    pub fn remove_tree(&self, host_path: &Path) -> Result<()> {
        let Some((dir, name)) = self.parent(host_path)? else {
            return Ok(());
        };
        remove_entry(&dir, &name)
            .with_context(|| format!("removing {}", self.path(host_path).display()))
    }

    /// Copies the tree `src` (a real path lempctl trusts: WordPress core, a restore scratch
    /// directory) into the directory `dest` (a host path), skipping top-level names in `skip`,
    /// with explicit owner and modes. The copy is built in a fresh root-only directory inside
    /// `dest` and each top-level entry is renamed into place only where the name is free, so a
    /// failed copy leaves nothing behind, the journal can remove what was added, and the site user
    /// never sees a half-built tree it could redirect.
    #[allow(clippy::too_many_arguments)]
    pub fn copy_tree(
        &self,
        journal: &mut Journal,
        src: &Path,
        dest: &Path,
        skip: &[&str],
        links: Links,
        dir_perms: &Perms,
        file_perms: &Perms,
    ) -> Result<usize> {
        let src_fd = walk::open_start(src).with_context(|| format!("opening {}", src.display()))?;
        let (shown, perms) = (src, (dir_perms, file_perms));
        self.copy_from(journal, (&src_fd, shown), dest, skip, links, perms)
    }

    /// `copy_tree` from the host path `src` inside the root that a site user controls (another
    /// site's document root, copied live): walked from the root without following a link, its
    /// links copied as links, FIFOs and devices skipped.
    pub fn copy_site_tree(
        &self,
        journal: &mut Journal,
        src: &Path,
        dest: &Path,
        skip: &[&str],
        (dir_perms, file_perms): (&Perms, &Perms),
    ) -> Result<usize> {
        let src_fd = self.open_dir(src)?;
        let shown = self.path(src);
        let perms = (dir_perms, file_perms);
        self.copy_from(
            journal,
            (&src_fd, &shown),
            dest,
            skip,
            Links::Recreate,
            perms,
        )
    }

    fn copy_from(
        &self,
        journal: &mut Journal,
        (src_fd, src): (&OwnedFd, &Path),
        dest: &Path,
        skip: &[&str],
        links: Links,
        (dir_perms, file_perms): (&Perms, &Perms),
    ) -> Result<usize> {
        let (duid, dgid) = accounts::resolve(&dir_perms.user, &dir_perms.group)?;
        let (fuid, fgid) = accounts::resolve(&file_perms.user, &file_perms.group)?;
        let owners = CopyOwners {
            dir: (duid, dgid, dir_perms.mode),
            file: (fuid, fgid, file_perms.mode),
            links,
        };
        let real_dest = self.path(dest);
        let dest_fd = self.open_dir(dest)?;
        let stage_name = OsString::from(format!(".lempctl-stage-{}", random_hex()));
        rustix::fs::mkdirat(&dest_fd, stage_name.as_os_str(), Mode::from_raw_mode(0o700))
            .with_context(|| format!("creating a staging directory in {}", real_dest.display()))?;
        let stage_fd = walk::open_subdir(&dest_fd, &stage_name, &real_dest.join(&stage_name))?;
        let done = (|| -> Result<usize> {
            let n = copy_dir(src_fd, &stage_fd, src, skip, &owners)?;
            for name in dir_names(&stage_fd)? {
                match rustix::fs::renameat_with(
                    &stage_fd,
                    name.as_os_str(),
                    &dest_fd,
                    name.as_os_str(),
                    RenameFlags::NOREPLACE,
                ) {
                    Ok(()) => journal.steps.push(Undo {
                        path: dest.join(&name),
                        previous: Previous::AbsentTree,
                    }),
                    Err(Errno::EXIST) => {}
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!("moving {} into place", real_dest.join(&name).display())
                        });
                    }
                }
            }
            Ok(n)
        })();
        let cleaned = remove_contents(&stage_fd);
        let _ = rustix::fs::unlinkat(&dest_fd, stage_name.as_os_str(), AtFlags::REMOVEDIR);
        let n = done?;
        cleaned.with_context(|| {
            format!("removing the staging directory in {}", real_dest.display())
        })?;
        Ok(n)
    }

    /// Moves every entry of the directory `from` into the directory `into` (host paths, walked
    /// without following links). An entry of the same name in `into` trades places with it
    /// (`RENAME_EXCHANGE`, atomic) and so ends up in `from`. Returns the entries moved.
    pub fn exchange_entries(&self, from: &Path, into: &Path) -> Result<usize> {
        let from_fd = self.open_dir(from)?;
        let into_fd = self.open_dir(into)?;
        let names = dir_names(&from_fd)?;
        for name in &names {
            let n = name.as_os_str();
            let flags = if walk::lstat_at(&into_fd, n)?.is_some() {
                RenameFlags::EXCHANGE
            } else {
                RenameFlags::NOREPLACE
            };
            rustix::fs::renameat_with(&from_fd, n, &into_fd, n, flags).with_context(|| {
                format!("moving {} into place", self.path(into).join(name).display())
            })?;
        }
        Ok(names.len())
    }

    /// Moves what `from` holds that `into` does not into `into`, directory by directory (both
    /// host paths, walked without following links; an entry of the same name in `into` wins),
    /// where `keep` says so of its path relative to both. Returns the entries left in `from`.
    pub fn merge_missing(
        &self,
        from: &Path,
        into: &Path,
        keep: &dyn Fn(&Path) -> bool,
    ) -> Result<u64> {
        fn merge(
            from: &OwnedFd,
            into: &OwnedFd,
            rel: &Path,
            keep: &dyn Fn(&Path) -> bool,
        ) -> Result<u64> {
            let mut n = 0;
            for name in dir_names(from)? {
                let here = walk::lstat_at(into, &name)?;
                let there = walk::lstat_at(from, &name)?;
                let path = rel.join(&name);
                match (here, there) {
                    (None, Some(_)) if !keep(&path) => n += 1,
                    (None, Some(_)) => match rustix::fs::renameat_with(
                        from,
                        name.as_os_str(),
                        into,
                        name.as_os_str(),
                        RenameFlags::NOREPLACE,
                    ) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    },
                    (Some(h), Some(t))
                        if walk::file_type(&h) == FileType::Directory
                            && walk::file_type(&t) == FileType::Directory =>
                    {
                        let open = |d: &OwnedFd| {
                            rustix::fs::openat(
                                d,
                                name.as_os_str(),
                                OFlags::RDONLY
                                    | OFlags::DIRECTORY
                                    | OFlags::NOFOLLOW
                                    | OFlags::CLOEXEC,
                                Mode::empty(),
                            )
                        };
                        n += merge(&open(from)?, &open(into)?, &path, keep)?;
                    }
                    _ => {}
                }
            }
            Ok(n)
        }
        merge(
            &self.open_dir(from)?,
            &self.open_dir(into)?,
            Path::new(""),
            keep,
        )
    }

    /// Removes everything inside a directory (a cache), keeping the directory.
    pub fn clear_dir(&self, host_path: &Path) -> Result<usize> {
        let fd = match self.open_dir(host_path) {
            Ok(fd) => fd,
            Err(e) if e.is_not_found() => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let names = dir_names(&fd)?;
        for name in &names {
            remove_entry(&fd, name).with_context(|| {
                format!("removing {}", self.path(host_path).join(name).display())
            })?;
        }
        Ok(names.len())
    }

    /// Makes the renames of this run durable: one fsync per directory written to, instead of one
    /// per file (a run over 1,000 sites writes thousands of files into a handful of directories).
    pub fn sync_dirs(&self, journal: &mut Journal) {
        for d in std::mem::take(&mut journal.dirty_dirs) {
            sync_dir(&d);
        }
    }

    /// Writes `host_path`, then does `work`; when `work` fails, the file is put back as it was
    /// (a site file written before its converge, a secret before the program that uses it).
    pub fn write_then<T>(
        &self,
        host_path: &Path,
        contents: &[u8],
        perms: &Perms,
        work: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        self.write_all_then(&[(host_path, contents)], perms, work)
    }

    /// Writes every file of `files`, then does `work`; when a write or `work` fails, every file
    /// is put back as it was (site files written before the one converge that reads them).
    pub fn write_all_then<T>(
        &self,
        files: &[(&Path, &[u8])],
        perms: &Perms,
        work: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let mut journal = Journal::default();
        let written = files.iter().try_for_each(|(path, contents)| {
            self.write_atomic(&mut journal, path, contents, perms)
        });
        written.and_then(|()| work()).inspect_err(|_| {
            self.rollback(&mut journal);
        })
    }

    /// Writes a file that is not part of the managed set (state, credentials), atomically, without a journal.
    pub fn write_private(&self, host_path: &Path, contents: &[u8], mode: u32) -> Result<()> {
        let mut scratch = Journal::default();
        self.write_atomic(&mut scratch, host_path, contents, &Perms::root(mode))
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
        let Some((dir, name)) = self.parent(&step.path)? else {
            // the parent is gone: nothing of this step is left to undo, unless it held something
            return match step.previous {
                Previous::Absent | Previous::AbsentTree => Ok(()),
                _ => bail!("{}: its directory is gone", p.display()),
            };
        };
        let name = name.as_os_str();
        match &step.previous {
            Previous::AbsentTree => remove_entry(&dir, name)?,
            Previous::Absent => match walk::lstat_at(&dir, name)? {
                Some(st) if walk::file_type(&st) == FileType::Directory => {
                    let _ = rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR);
                }
                Some(_) => rustix::fs::unlinkat(&dir, name, AtFlags::empty())?,
                None => {}
            },
            Previous::File {
                contents,
                mode,
                uid,
                gid,
            } => {
                remove_if_dir(&dir, name)?;
                replace_file(&dir, name, contents, *uid, *gid, *mode)?;
            }
            Previous::Symlink { target } => {
                remove_if_dir(&dir, name)?;
                replace_link(&dir, name, target)?;
            }
            Previous::Attrs { mode, uid, gid } => {
                let f = walk::open_regular(&dir, name, &p)?;
                set_owner_mode(&OwnedFd::from(f), *uid, *gid, *mode)?;
            }
            Previous::Dir { mode, uid, gid } => {
                if walk::lstat_at(&dir, name)?.is_none() {
                    rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o700))?;
                }
                let fd = walk::open_subdir(&dir, name, &p)?;
                set_owner_mode(&fd, *uid, *gid, *mode)?;
            }
        }
        Ok(())
    }
}

/// What `copy_tree` does with a symbolic link in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Follow links root made where only root writes (Debian's WordPress tree links
    /// `wp-content` to `/var/lib/wordpress`); any other link is an error.
    FollowTrusted,
    /// Recreate every link as a link, owned like the files, never followed (a restored site).
    Recreate,
}

struct CopyOwners {
    dir: (u32, u32, u32),
    file: (u32, u32, u32),
    links: Links,
}

/// `host_path` split into its parent and last name; the root itself has neither.
fn split(host_path: &Path) -> Result<(&Path, OsString)> {
    match (host_path.parent(), host_path.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name.to_os_string())),
        _ => bail!("{} has no parent directory", host_path.display()),
    }
}

/// What `name` in `dir` holds, read without following it.
fn previous_at(dir: &OwnedFd, name: &OsStr, shown: &Path) -> Result<Previous> {
    let Some(st) =
        walk::lstat_at(dir, name).with_context(|| format!("inspecting {}", shown.display()))?
    else {
        return Ok(Previous::Absent);
    };
    let mode = st.st_mode & 0o7777;
    match walk::file_type(&st) {
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(dir, name, Vec::new())
                .with_context(|| format!("reading link {}", shown.display()))?;
            Ok(Previous::Symlink {
                target: PathBuf::from(OsStr::from_bytes(target.as_bytes())),
            })
        }
        FileType::Directory => Ok(Previous::Dir {
            mode,
            uid: st.st_uid,
            gid: st.st_gid,
        }),
        FileType::RegularFile => {
            let mut f = walk::open_regular(dir, name, shown)?;
            let mut contents = Vec::new();
            f.read_to_end(&mut contents)
                .with_context(|| format!("reading {}", shown.display()))?;
            Ok(Previous::File {
                contents,
                mode,
                uid: st.st_uid,
                gid: st.st_gid,
            })
        }
        other => bail!(
            "{} is a {}, not a regular file or directory: refusing to touch it",
            shown.display(),
            walk::kind_name(other)
        ),
    }
}

/// 16 random hex digits: temp names nobody can plant a link for in advance.
fn random_hex() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn temp_name(name: &OsStr) -> OsString {
    let mut t = OsString::from(".");
    // keep temp names short enough for NAME_MAX
    let bytes = name.as_bytes();
    t.push(OsStr::from_bytes(&bytes[..bytes.len().min(200)]));
    t.push(format!(".lempctl-{}", random_hex()));
    t
}

fn set_owner_mode(fd: &OwnedFd, uid: u32, gid: u32, mode: u32) -> std::io::Result<()> {
    rustix::fs::fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(mode))?;
    Ok(())
}

/// A new file under a random name (`O_EXCL | O_NOFOLLOW`), written, synced, owned and moded
/// through its descriptor, then renamed over `name`.
fn replace_file(
    dir: &OwnedFd,
    name: &OsStr,
    contents: &[u8],
    uid: u32,
    gid: u32,
    mode: u32,
) -> Result<()> {
    let tmp = temp_name(name);
    let fd = rustix::fs::openat(
        dir,
        tmp.as_os_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let write = || -> Result<()> {
        let mut f = fs::File::from(fd);
        f.write_all(contents)?;
        f.sync_all()?;
        set_owner_mode(&OwnedFd::from(f), uid, gid, mode)?;
        rustix::fs::renameat(dir, tmp.as_os_str(), dir, name)?;
        Ok(())
    };
    let r = write();
    if r.is_err() {
        let _ = rustix::fs::unlinkat(dir, tmp.as_os_str(), AtFlags::empty());
    }
    r
}

fn replace_link(dir: &OwnedFd, name: &OsStr, target: &Path) -> Result<()> {
    let tmp = temp_name(name);
    rustix::fs::symlinkat(target, dir, tmp.as_os_str())?;
    if let Err(e) = rustix::fs::renameat(dir, tmp.as_os_str(), dir, name) {
        let _ = rustix::fs::unlinkat(dir, tmp.as_os_str(), AtFlags::empty());
        return Err(e.into());
    }
    Ok(())
}

fn remove_if_dir(dir: &OwnedFd, name: &OsStr) -> Result<()> {
    if let Some(st) = walk::lstat_at(dir, name)?
        && walk::file_type(&st) == FileType::Directory
    {
        rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    }
    Ok(())
}

/// The names in a directory, `.` and `..` left out.
fn dir_names(dir: &OwnedFd) -> Result<Vec<OsString>> {
    let mut out = Vec::new();
    for e in rustix::fs::Dir::read_from(dir)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    Ok(out)
}

/// Removes `name` from `dir`: a directory with everything in it, walked by descriptor; a link
/// is unlinked, never followed.
fn remove_entry(dir: &OwnedFd, name: &OsStr) -> Result<()> {
    let Some(st) = walk::lstat_at(dir, name)? else {
        return Ok(());
    };
    if walk::file_type(&st) == FileType::Directory {
        match rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(sub) => remove_contents(&sub)?,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    } else {
        match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn remove_contents(dir: &OwnedFd) -> Result<()> {
    for name in dir_names(dir)? {
        remove_entry(dir, &name)?;
    }
    Ok(())
}

/// Copies the contents of `src` into `to` (both open directories); returns the files copied.
fn copy_dir(
    src: &OwnedFd,
    to: &OwnedFd,
    shown: &Path,
    skip: &[&str],
    o: &CopyOwners,
) -> Result<usize> {
    let mut n = 0;
    for name in dir_names(src)? {
        if skip.iter().any(|s| name.as_os_str() == *s) {
            continue;
        }
        let from = shown.join(&name);
        let Some(st) = walk::lstat_at(src, &name)? else {
            continue;
        };
        let mut t = walk::file_type(&st);
        let mut follow = false;
        if t == FileType::Symlink {
            match o.links {
                Links::Recreate => {
                    let target = rustix::fs::readlinkat(src, name.as_os_str(), Vec::new())?;
                    rustix::fs::symlinkat(target.as_c_str(), to, name.as_os_str())?;
                    let (uid, gid, _) = o.file;
                    rustix::fs::chownat(
                        to,
                        name.as_os_str(),
                        Some(Uid::from_raw(uid)),
                        Some(Gid::from_raw(gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )?;
                    continue;
                }
                Links::FollowTrusted => {
                    if !walk::trusted_link(src, &st)? {
                        return Err(WalkError::UntrustedLink {
                            path: from,
                            uid: st.st_uid,
                        }
                        .into());
                    }
                    let st = rustix::fs::statat(src, name.as_os_str(), AtFlags::empty())
                        .with_context(|| format!("following {}", from.display()))?;
                    t = walk::file_type(&st);
                    follow = true;
                }
            }
        }
        match t {
            FileType::Directory => {
                let sub_src = if follow {
                    walk::open_subdir(src, &name, &from)?
                } else {
                    rustix::fs::openat(
                        src,
                        name.as_os_str(),
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .with_context(|| format!("opening {}", from.display()))?
                };
                rustix::fs::mkdirat(to, name.as_os_str(), Mode::from_raw_mode(0o700))?;
                let sub_to = rustix::fs::openat(
                    to,
                    name.as_os_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                n += copy_dir(&sub_src, &sub_to, &from, &[], o)?;
                let (uid, gid, mode) = o.dir;
                set_owner_mode(&sub_to, uid, gid, mode)?;
            }
            FileType::RegularFile => {
                let mut input = walk::open_regular(src, &name, &from)?;
                let fd = rustix::fs::openat(
                    to,
                    name.as_os_str(),
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )?;
                let mut out = fs::File::from(fd);
                std::io::copy(&mut input, &mut out)
                    .with_context(|| format!("copying {}", from.display()))?;
                let (uid, gid, mode) = o.file;
                set_owner_mode(&OwnedFd::from(out), uid, gid, mode)?;
                n += 1;
            }
            // sockets, FIFOs and devices are not site content
            other => tracing::debug!("skipping {} ({})", from.display(), walk::kind_name(other)),
        }
    }
    Ok(n)
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
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

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

    /// A link a site user (here `nobody`) planted where lempctl writes.
    fn plant(link: &Path, target: &Path) {
        std::os::unix::fs::symlink(target, link).unwrap();
        std::os::unix::fs::lchown(link, Some(65534), Some(65534)).unwrap();
    }

    /// These tests chown; CI runs as root, so there they never skip.
    fn is_root() -> bool {
        let root = rustix::process::geteuid().is_root();
        assert!(
            root || std::env::var_os("CI").is_none(),
            "CI runs tests as root"
        );
        root
    }

    #[test]
    fn a_planted_link_is_replaced_never_written_through() {
        if !is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let r = Root::new(dir.path()).unwrap();
        let secret = dir.path().join("secret");
        fs::write(&secret, "root only").unwrap();
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
        let site = dir.path().join("srv/site");
        fs::create_dir_all(&site).unwrap();
        std::os::unix::fs::chown(&site, Some(65534), Some(65534)).unwrap();
        plant(&site.join("wp-config.php"), &secret);
        let mut j = Journal::default();
        let p = Path::new("/srv/site/wp-config.php");
        r.write_atomic(&mut j, p, b"new", &Perms::new("nobody", "nogroup", 0o640))
            .unwrap();
        assert_eq!(fs::read(&secret).unwrap(), b"root only");
        assert_eq!(fs::metadata(&secret).unwrap().uid(), 0);
        assert!(!site.join("wp-config.php").is_symlink());
        // the attacker swaps the new file for a link before the rollback: the rollback puts the
        // old link back beside, not through it
        fs::remove_file(site.join("wp-config.php")).unwrap();
        plant(&site.join("wp-config.php"), &secret);
        assert!(r.rollback(&mut j).is_empty());
        assert_eq!(fs::read(&secret).unwrap(), b"root only");
        assert_eq!(fs::metadata(&secret).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_directory_swapped_for_a_link_is_refused() {
        if !is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let r = Root::new(dir.path()).unwrap();
        let etc = dir.path().join("etc");
        fs::create_dir_all(&etc).unwrap();
        fs::set_permissions(&etc, fs::Permissions::from_mode(0o700)).unwrap();
        let site = dir.path().join("srv/site");
        fs::create_dir_all(&site).unwrap();
        std::os::unix::fs::chown(&site, Some(65534), Some(65534)).unwrap();
        plant(&site.join("logs"), &etc);
        let mut j = Journal::default();
        let e = r
            .ensure_dir(
                &mut j,
                Path::new("/srv/site/logs"),
                &Perms::new("nobody", "nogroup", 0o750),
            )
            .unwrap_err();
        assert!(format!("{e:#}").contains("refusing to follow"), "{e:#}");
        // nor is a path through it walked
        let e = r
            .write_atomic(
                &mut j,
                Path::new("/srv/site/logs/x"),
                b"x",
                &Perms::root(0o644),
            )
            .unwrap_err();
        assert!(format!("{e:#}").contains("refusing to follow"), "{e:#}");
        let m = fs::metadata(&etc).unwrap();
        assert_eq!((m.uid(), m.mode() & 0o7777), (0, 0o700));
        assert!(!etc.join("x").exists());
        // a link root made in a root-only directory is followed (an admin's /srv → /data)
        let data = dir.path().join("data");
        fs::create_dir_all(&data).unwrap();
        std::os::unix::fs::symlink(&data, dir.path().join("srv2")).unwrap();
        r.write_private(Path::new("/srv2/f"), b"ok", 0o600).unwrap();
        assert_eq!(fs::read(data.join("f")).unwrap(), b"ok");
    }

    #[test]
    fn copies_keep_links_as_links_or_refuse_untrusted_ones() {
        if !is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let r = Root::new(dir.path()).unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("a")).unwrap();
        fs::write(src.join("a/f"), "f").unwrap();
        plant(&src.join("leak"), Path::new("/etc/shadow"));
        fs::create_dir_all(dir.path().join("dest")).unwrap();
        let mut j = Journal::default();
        let perms = Perms::new("nobody", "nogroup", 0o750);
        let n = r
            .copy_tree(
                &mut j,
                &src,
                Path::new("/dest"),
                &[],
                Links::Recreate,
                &perms,
                &perms,
            )
            .unwrap();
        assert_eq!(n, 1);
        let leak = dir.path().join("dest/leak");
        assert_eq!(fs::read_link(&leak).unwrap(), Path::new("/etc/shadow"));
        assert_eq!(fs::symlink_metadata(&leak).unwrap().uid(), 65534);
        fs::create_dir_all(dir.path().join("dest2")).unwrap();
        let e = r
            .copy_tree(
                &mut j,
                &src,
                Path::new("/dest2"),
                &[],
                Links::FollowTrusted,
                &perms,
                &perms,
            )
            .unwrap_err();
        assert!(format!("{e:#}").contains("refusing to follow"), "{e:#}");
        assert_eq!(
            fs::read_dir(dir.path().join("dest2")).unwrap().count(),
            0,
            "nothing left behind"
        );
    }
}
