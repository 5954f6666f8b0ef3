//! Snapshots written in-process by `rustic_core` into a restic repository (a local path, or S3
//! through `s3::S3Backend`). Only `backup` of the site files runs here: restic starts as a process,
//! unlocks its key and waits 200 ms after taking its lock on every run, which is most of an
//! incremental backup's time (docs/backups.md#engine). Everything else (init, listing, forget,
//! prune, restore, check) stays with stock restic, which reads these snapshots like its own.
//! The caller holds restic's non-exclusive lock (`engine::repo_lock`) while this writes: rustic
//! takes none itself.

mod s3;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use rustic_core::repofile::MasterKey;
use rustic_core::{
    BackupOptions, Credentials, ErrorKind, Excludes, LocalSource, LocalSourceFilterOptions,
    LocalSourceSaveOptions, PathList, ReadSource, ReadSourceEntry, ReadSourceOpen, Repository,
    RepositoryBackends, RepositoryOptions, RusticError, RusticResult, SnapshotOptions, StringList,
    WriteBackend,
};

use super::restic::Summary;
use crate::host::walk;

/// Where the repository is.
pub(crate) enum Location<'a> {
    /// A real directory.
    Local(&'a Path),
    /// restic's `s3:` URL without the scheme prefix (`http(s)://host[:port]/bucket[/prefix]`).
    S3(&'a str),
}

/// rustic's errors carry their own context; keep it in the message.
fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Backs up `paths` (real paths) with `excludes` (restic patterns: absolute, `*` and `?` within
/// a component, `**` across) and `tags`, as the next snapshot of the same host and paths.
pub(crate) fn backup(
    location: &Location<'_>,
    master_json: &[u8],
    cache_dir: &Path,
    paths: &[PathBuf],
    excludes: &[String],
    tags: &[String],
) -> Result<Summary> {
    let be: Arc<dyn WriteBackend> = match location {
        Location::Local(dir) => Arc::new(
            rustic_backend::local::LocalBackend::new(
                dir.to_str().context("a UTF-8 repository path")?,
                Vec::<(String, String)>::new(),
            )
            .map_err(err)?,
        ),
        Location::S3(url) => Arc::new(s3::S3Backend::new(url)?),
    };
    let key: MasterKey = serde_json::from_slice(master_json).context("the master key")?;
    let opts = RepositoryOptions::default().cache_dir(cache_dir.to_path_buf());
    let repo = Repository::new(&opts, &RepositoryBackends::new(be, None))
        .map_err(err)?
        .open(&Credentials::Masterkey(key))
        .map_err(err)?
        .to_indexed_ids()
        .map_err(err)?;
    let tags: StringList = tags.join(",").parse().map_err(err)?;
    let snap = SnapshotOptions::default()
        .tags(vec![tags])
        .to_snapshot()
        .map_err(err)?;
    // sorted, nested paths merged; not canonicalised (rustic's `sanitize` resolves symlinks,
    // restic and lempctl's restore name paths as given)
    let source: PathList = paths.iter().collect();
    let roots = source.merge().paths();
    let src = WithAncestors::new(&roots, excludes)?;
    let opts = BackupOptions::default().no_scan(true);
    let snap = repo.archive(&opts, &src, snap, &roots).map_err(err)?;
    let s = snap.summary.unwrap_or_default();
    Ok(Summary {
        snapshot_id: snap.id.to_string(),
        data_added: s.data_added_packed,
        total_files_processed: s.total_files_processed,
        total_bytes_processed: s.total_bytes_processed,
    })
}

type Entry = RusticResult<ReadSourceEntry<SafeOpen>>;

/// Opens a file of the walk below its backup path's descriptor, with every link refused
/// (`walk::open_beneath`): rustic's own open re-resolves the walked path, and the site user may
/// have swapped a name for a link to a root-only file in between. A FIFO is refused, not read.
pub(crate) struct SafeOpen {
    base: Arc<std::os::fd::OwnedFd>,
    base_path: PathBuf,
    rel: PathBuf,
}

impl ReadSourceOpen for SafeOpen {
    type Reader = std::fs::File;

    fn open(self) -> RusticResult<Self::Reader> {
        walk::open_beneath(&self.base, &self.rel, &self.base_path).map_err(|e| {
            RusticError::with_source(ErrorKind::InputOutput, "opening {path}", e)
                .attach_context("path", self.base_path.join(&self.rel).display().to_string())
        })
    }
}

/// The backup paths with their ancestor directories. rustic records neither a backup path that is
/// a directory (its walk skips the walk's root) nor its ancestors, only stand-ins (mode 755, owner
/// root, time zero), and `restic restore --target /` applies what is recorded: a manual restore
/// would chmod `/tmp` and the site directory. restic records the real directories; so does this.
struct WithAncestors {
    /// In tree order: single directories, and walks of the backup paths' contents.
    parts: Vec<Part>,
}

enum Part {
    Dir(PathBuf),
    Walk {
        source: Box<LocalSource>,
        root: PathBuf,
        fd: Arc<std::os::fd::OwnedFd>,
    },
}

/// `path` itself as rustic's own walker maps an entry.
fn single(path: &Path) -> Option<Entry> {
    let entry = ignore::WalkBuilder::new(path)
        .max_depth(Some(0))
        .build()
        .next()?;
    Some(
        entry
            .map_err(|e| e.to_string())
            .and_then(|e| {
                LocalSourceSaveOptions::default()
                    .map_entry(e)
                    .map_err(|e| e.to_string())
            })
            // a directory: nothing to open
            .map(|e| ReadSourceEntry {
                path: e.path,
                node: e.node,
                open: None,
            })
            .map_err(|e| {
                RusticError::new(ErrorKind::InputOutput, "reading {path}: {error}")
                    .attach_context("path", path.display().to_string())
                    .attach_context("error", e)
            }),
    )
}

impl WithAncestors {
    fn new(roots: &[PathBuf], excludes: &[String]) -> Result<Self> {
        // rustic's globs are overrides: `!` excludes
        let globs = excludes.iter().map(|e| format!("!{e}")).collect::<Vec<_>>();
        let excludes = Excludes::default().globs(globs);
        let mut parts = Vec::new();
        let mut seen: Vec<PathBuf> = Vec::new();
        for r in roots {
            let mut dirs: Vec<&Path> = r
                .ancestors()
                .skip(1)
                .filter(|a| a.parent().is_some())
                .collect();
            dirs.reverse();
            dirs.push(r);
            for d in dirs {
                // a symlinked ancestor keeps rustic's stand-in: an entry for it would be a
                // symlink node beside the directory rustic makes for the path through it
                let real_dir = std::fs::symlink_metadata(d).is_ok_and(|m| m.is_dir());
                if real_dir && !seen.iter().any(|s| s == d) {
                    parts.push(Part::Dir(d.to_path_buf()));
                    seen.push(d.to_path_buf());
                }
            }
            // files are opened below the backup path, or below its directory when it is a file
            let base = if std::fs::metadata(r).is_ok_and(|m| m.is_dir()) {
                r.clone()
            } else {
                r.parent().unwrap_or(Path::new("/")).to_path_buf()
            };
            let start = walk::open_start(Path::new("/"))?;
            let fd = walk::open_dir_at(&start, &base, &base)?;
            parts.push(Part::Walk {
                source: Box::new(
                    LocalSource::new(
                        LocalSourceSaveOptions::default(),
                        &excludes,
                        &LocalSourceFilterOptions::default(),
                        &[r],
                    )
                    .map_err(err)?,
                ),
                root: base,
                fd: Arc::new(fd),
            });
        }
        Ok(Self { parts })
    }
}

impl ReadSource for WithAncestors {
    type Open = SafeOpen;
    type Iter = Box<dyn Iterator<Item = Entry> + Send>;

    fn size(&self) -> RusticResult<Option<u64>> {
        Ok(None)
    }

    fn entries(&self) -> Self::Iter {
        let parts: Vec<Box<dyn Iterator<Item = Entry> + Send>> = self
            .parts
            .iter()
            .map(|p| -> Box<dyn Iterator<Item = Entry> + Send> {
                match p {
                    Part::Dir(d) => Box::new(single(d).into_iter()),
                    Part::Walk { source, root, fd } => {
                        let (root, fd) = (root.clone(), fd.clone());
                        Box::new(source.entries().map(move |e| {
                            let e = e?;
                            let open = match e.open {
                                None => None,
                                Some(_) => Some(SafeOpen {
                                    base: fd.clone(),
                                    base_path: root.clone(),
                                    rel: e
                                        .path
                                        .strip_prefix(&root)
                                        .map_err(|_| {
                                            RusticError::new(
                                                ErrorKind::InputOutput,
                                                "{path} is outside the backup path",
                                            )
                                            .attach_context("path", e.path.display().to_string())
                                        })?
                                        .to_path_buf(),
                                }),
                            };
                            Ok(ReadSourceEntry {
                                path: e.path,
                                node: e.node,
                                open,
                            })
                        }))
                    }
                }
            })
            .collect();
        Box::new(parts.into_iter().flatten())
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // test fixtures are written directly, not through host::Root
mod tests {
    use super::*;
    use crate::services::restic::excludes::{excluded, restic_excludes};

    /// What rustic's walker yields for the site excludes is what lempctl's own matcher (the
    /// manifest's file list, verify's count) calls not excluded, ancestors included.
    #[test]
    fn walk_applies_the_site_excludes_and_records_ancestors() {
        let t = tempfile::tempdir().unwrap();
        let site = t.path().join("srv/www/a.test");
        let files = [
            "htdocs/index.php",
            "htdocs/tmp/kept.txt",
            "htdocs/wp-content/cache/page.html",
            "htdocs/wp-content/uploads/x.jpg",
            "htdocs/.cache/q",
            "htdocs/.htaccess",
            "logs/access.log",
            "logs/access.log.1",
            "tmp/sess_1",
            "sessions/s",
        ];
        for f in files {
            let p = site.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
        let manifest = t.path().join("state/a.test.json");
        std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
        std::fs::write(&manifest, "{}").unwrap();
        let globs: Vec<String> = ["/tmp", "/sessions", "wp-content/cache", ".cache", "*.log"]
            .map(String::from)
            .to_vec();
        let src = WithAncestors::new(
            &[site.clone(), manifest.clone()],
            &restic_excludes(&site, &globs).unwrap(),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&site, std::fs::Permissions::from_mode(0o710)).unwrap();
        let entries: Vec<_> = src.entries().map(Result::unwrap).collect();
        let site_node = &entries.iter().find(|e| e.path == site).unwrap().node;
        assert_eq!(
            site_node.meta.mode.map(|m| m & 0o777),
            Some(0o710),
            "real mode"
        );
        assert!(site_node.meta.mtime.is_some(), "real mtime");
        let walked: Vec<PathBuf> = entries.into_iter().map(|e| e.path).collect();
        let mut sorted = walked.clone();
        sorted.sort();
        assert_eq!(walked, sorted, "tree order");
        for f in files {
            let rel: Vec<&str> = f.split('/').collect();
            assert_eq!(
                walked.contains(&site.join(f)),
                !excluded(&rel, &globs),
                "{f}"
            );
        }
        // every ancestor is there with its real metadata, the site directory too
        for dir in site.ancestors().filter(|a| a.parent().is_some()) {
            assert!(walked.iter().any(|w| w == dir), "{}", dir.display());
        }
        assert!(walked.contains(&manifest));
        assert!(
            walked.contains(&site.join("htdocs/tmp")),
            "/tmp is anchored"
        );

        // through a symlinked ancestor: paths as given, the link itself not an entry
        let link = t.path().join("link");
        std::os::unix::fs::symlink(t.path().join("srv"), &link).unwrap();
        let via = link.join("www/a.test");
        let src = WithAncestors::new(std::slice::from_ref(&via), &[]).unwrap();
        let walked: Vec<PathBuf> = src.entries().map(|e| e.unwrap().path).collect();
        assert!(!walked.contains(&link));
        assert!(walked.contains(&link.join("www")));
        assert!(walked.contains(&via.join("htdocs/index.php")));
    }

    /// A file swapped for a link between the walk and the read is refused, not read through.
    #[test]
    fn a_file_swapped_for_a_link_after_the_walk_is_not_read() {
        let t = tempfile::tempdir().unwrap();
        let site = t.path().join("srv/www/a.test");
        std::fs::create_dir_all(site.join("htdocs")).unwrap();
        std::fs::write(site.join("htdocs/index.php"), "site").unwrap();
        let secret = t.path().join("secret");
        std::fs::write(&secret, "root only").unwrap();
        let src = WithAncestors::new(std::slice::from_ref(&site), &[]).unwrap();
        let entry = src
            .entries()
            .map(|e| e.unwrap())
            .find(|e| e.path.ends_with("htdocs/index.php"))
            .unwrap();
        std::fs::remove_file(site.join("htdocs/index.php")).unwrap();
        std::os::unix::fs::symlink(&secret, site.join("htdocs/index.php")).unwrap();
        let e = entry.open.unwrap().open().unwrap_err();
        assert!(e.to_string().contains("index.php"), "{e}");
    }
}
