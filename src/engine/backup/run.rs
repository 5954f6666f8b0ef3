//! A backup run of one site: the files snapshot, and the database dumped afresh or referred to.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::manifest::{Manifest, SiteWalk, manifest_path, walk_site};
use super::trailer::{Describer, DumpTrailer, trailer_bytes};
use super::{Repo, Writer, backup_dir, dump_name};
use crate::config::global::Global;
use crate::config::{Config, Site};
use crate::engine::database::{self, with_admin};
use crate::host::Root;
use crate::host::exec::pipe_with_trailer;
use crate::services::mariadb::{self, ClientOptions};
use crate::services::restic::Summary;
use crate::services::restic::excludes::restic_excludes;
use crate::services::restic::tags as snapshot_tags;

/// The result of backing up one site.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunResult {
    pub site: String,
    pub run: String,
    pub time: String,
    pub files_snapshot: String,
    pub db_snapshot: Option<String>,
    /// The database had not changed since the dump `db_snapshot` (an earlier run's) was taken.
    pub dump_reused: bool,
    pub files: u64,
    /// Bytes read (site tree and dump).
    pub size_bytes: u64,
    /// Bytes the repository grew by (after deduplication).
    pub added_bytes: u64,
    pub duration_seconds: f64,
    pub safety: bool,
}

fn run_id() -> Result<(String, String)> {
    let now = chrono::Local::now();
    let mut rnd = [0u8; 3];
    rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut rnd)
        .map_err(|e| anyhow::anyhow!("random: {e}"))?;
    Ok((
        format!(
            "{}-{}",
            now.with_timezone(&chrono::Utc).format("%Y%m%dT%H%M%SZ"),
            hex::encode(rnd)
        ),
        now.format("%Y-%m-%d %H:%M:%S").to_string(),
    ))
}

pub(super) fn tags(site: &str, run: &str, part: &str, kind: RunKind) -> Vec<String> {
    snapshot_tags::of_run(site, run, part, kind.marker())
}

/// Why a run is taken: on demand or by the timer, before an in-place restore (`safety`), or
/// before data is destroyed (`reason=final`: `site remove --purge`, `db drop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunKind {
    Scheduled,
    Safety,
    Final,
}

impl RunKind {
    /// The tag that tells this kind of run apart, if any.
    fn marker(self) -> Option<&'static str> {
        match self {
            RunKind::Scheduled => None,
            RunKind::Safety => Some(snapshot_tags::SAFETY),
            RunKind::Final => Some(snapshot_tags::FINAL),
        }
    }
}

/// A fresh dump of a run.
struct DbPart {
    snapshot: String,
    dump_bytes: u64,
    added_bytes: u64,
    /// To remember once the run is complete: the dump matches this fingerprint.
    record: Option<DumpRecord>,
}

/// The last dump known to describe a database exactly (fingerprint equal before and after it).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DumpRecord {
    repository: String,
    database: String,
    fingerprint: String,
    snapshot: String,
    tables: BTreeMap<String, u64>,
    dump_sha256: String,
    dump_bytes: u64,
}

fn dump_record_path(g: &Global, site: &str) -> PathBuf {
    backup_dir(g).join("dumps").join(format!("{site}.json"))
}

fn write_dump_record(root: &Root, g: &Global, site: &str, rec: &DumpRecord) -> Result<()> {
    root.write_private(
        &dump_record_path(g, site),
        &serde_json::to_vec_pretty(rec).context("dump record")?,
        0o600,
    )
}

fn fingerprint(target: &mariadb::AdminTarget, db: &str) -> Option<String> {
    let got = with_admin(target, async |admin| {
        mariadb::fingerprint::fingerprint(admin, db).await
    });
    match got {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::debug!("no database fingerprint, dumping: {e}");
            None
        }
    }
}

/// What a run does about a site's database.
enum DbDecision {
    /// The database is provably unchanged since this dump.
    Reuse(DumpRecord),
    /// Dump it; `before` is the fingerprint read first (when it could be read).
    Dump { before: Option<String> },
}

/// The dump a scheduled run may refer to instead of dumping (safety and final runs always dump).
fn previous_dump(
    root: &Root,
    g: &Global,
    repo: &Repo,
    site: &str,
    database: &str,
    kind: RunKind,
) -> Result<Option<DumpRecord>> {
    Ok(root
        .read(&dump_record_path(g, site))?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|p: &DumpRecord| {
            kind == RunKind::Scheduled
                && p.database == database
                && p.repository == repo.restic.repository
        }))
}

/// Reuse the previous dump when the database is provably unchanged since it and the dump is still
/// in the repository, else dump.
fn decide_database(
    previous: Option<DumpRecord>,
    now: Option<String>,
    w: &Writer,
    site: &str,
) -> DbDecision {
    let Some(p) = previous.filter(|p| now.as_ref() == Some(&p.fingerprint)) else {
        return DbDecision::Dump { before: now };
    };
    // a failed lookup only means dumping again
    let still_there = w
        .snapshot_tags(&p.snapshot)
        .ok()
        .flatten()
        .is_some_and(|tags| snapshot_tags::is_dump_of(&tags, site));
    if still_there {
        DbDecision::Reuse(p)
    } else {
        DbDecision::Dump { before: now }
    }
}

/// One run in progress: where it writes and what it is called.
struct Run<'a> {
    root: &'a Root,
    g: &'a Global,
    repo: &'a Repo,
    site: &'a Site,
    run: String,
    kind: RunKind,
}

impl Run<'_> {
    fn name(&self) -> &str {
        self.site.name.as_str()
    }

    /// Streams a fresh dump into restic (with its trailer); it is remembered only when the
    /// fingerprint did not move while it ran.
    fn dump_database(&self, database: &str, before: Option<String>) -> Result<DbPart> {
        let target = database::admin_target(self.root, self.g)?;
        let opts = ClientOptions::write(&target)?;
        let dump = mariadb::backup_dump_cmd(&opts, database);
        let store = self.repo.restic.backup_stdin_cmd(
            &dump_name(self.name()),
            &tags(self.name(), &self.run, "db", self.kind),
        );
        let describer = RefCell::new(Describer::default());
        let described = RefCell::new(DumpTrailer::default());
        let out = pipe_with_trailer(
            &dump,
            &store,
            &mut |b| describer.borrow_mut().feed(b),
            &mut || {
                let t = describer.borrow_mut().finish();
                let line = trailer_bytes(&t);
                *described.borrow_mut() = t;
                line
            },
        )
        .with_context(|| format!("backing up the database `{database}`"))?;
        let summary = crate::services::restic::parse_summary(&out.stdout)?;
        let t = described.into_inner();
        let after = before.as_ref().and_then(|_| fingerprint(&target, database));
        let record = match (before, after) {
            (Some(b), Some(a)) if a == b => Some(DumpRecord {
                repository: self.repo.restic.repository.clone(),
                database: database.to_owned(),
                fingerprint: a,
                snapshot: summary.snapshot_id.clone(),
                tables: t.tables.clone(),
                dump_sha256: t.sha256.clone(),
                dump_bytes: t.bytes,
            }),
            _ => None,
        };
        Ok(DbPart {
            snapshot: summary.snapshot_id,
            dump_bytes: t.bytes,
            added_bytes: summary.data_added,
            record,
        })
    }

    /// Independent reads at once: the repository key, the database fingerprint, the site walk.
    fn read(&self, site_dir: &Path) -> Reads<'_> {
        let (root, g, repo) = (self.root, self.g, self.repo);
        std::thread::scope(|s| {
            let writer = s.spawn(|| repo.writer(root));
            let now = self.site.db.as_ref().map(|db| {
                s.spawn(|| {
                    let target = database::admin_target(root, g)?;
                    Ok::<_, anyhow::Error>(fingerprint(&target, &db.database))
                })
            });
            let walked = site_dir
                .is_dir()
                .then(|| walk_site(site_dir, &repo.cfg.exclude));
            Reads {
                writer: writer.join().expect("key thread"),
                now: now.map(|h| h.join().expect("fingerprint thread")),
                walked,
            }
        })
    }

    /// Writes the manifest and lists what the files snapshot holds: the site tree (when it
    /// exists), the manifest, the site file and the site's credentials.
    fn files_paths(
        &self,
        manifest: &mut Manifest,
        walked: Option<Result<SiteWalk>>,
        site_dir: &Path,
    ) -> Result<Vec<PathBuf>> {
        let (root, g, name) = (self.root, self.g, self.name());
        let mut paths = Vec::new();
        if let Some(walked) = walked {
            let walked = walked?;
            manifest.files = walked.files;
            manifest.file_bytes = walked.bytes;
            manifest.sample = walked.sample;
            paths.push(site_dir.to_path_buf());
        }
        let mpath = manifest_path(g, name);
        root.write_private(
            &mpath,
            &serde_json::to_vec_pretty(&*manifest).context("manifest")?,
            0o600,
        )?;
        paths.push(root.path(&mpath));
        paths.push(self.site.file.clone());
        let creds = crate::engine::secrets::path(g, name);
        if root.read(&creds)?.is_some() {
            paths.push(root.path(&creds));
        }
        Ok(paths)
    }

    /// The files snapshot, with a fresh dump (linked to this run by its `run` tag) streaming
    /// while the files are backed up.
    fn snapshots(
        &self,
        writer: &Writer,
        files: &Files,
        fresh_before: Option<Option<String>>,
    ) -> Result<(Summary, Option<DbPart>)> {
        let name = self.name();
        let (summary, fresh) = std::thread::scope(|s| {
            let dumping = match (&self.site.db, fresh_before) {
                (Some(db), Some(before)) => {
                    Some(s.spawn(|| self.dump_database(&db.database, before)))
                }
                _ => None,
            };
            let summary = self
                .repo
                .snapshot_files(
                    self.root,
                    writer,
                    &files.paths,
                    &files.excludes,
                    &files.tags,
                )
                .with_context(|| format!("backing up the files of `{name}`"));
            (summary, dumping.map(|h| h.join().expect("dump thread")))
        });
        match (summary, fresh) {
            (Ok(f), None) => Ok((f, None)),
            (Ok(f), Some(Ok(d))) => Ok((f, Some(d))),
            (summary, fresh) => Err(self.discard(summary, fresh)),
        }
    }

    /// Half a run is no run: forgets what was written (best effort; prune would drop it too)
    /// and returns the error.
    fn discard(&self, summary: Result<Summary>, fresh: Option<Result<DbPart>>) -> anyhow::Error {
        let written: Vec<String> = [
            summary.as_ref().ok().map(|f| f.snapshot_id.clone()),
            fresh
                .as_ref()
                .and_then(|d| d.as_ref().ok())
                .map(|d| d.snapshot.clone()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let _ = self.repo.restic.forget_ids(&written);
        match (summary, fresh) {
            (Err(e), _) | (_, Some(Err(e))) => e,
            _ => anyhow::anyhow!("backup of `{}` failed", self.name()),
        }
    }
}

/// What a run reads before it writes anything.
struct Reads<'a> {
    writer: Result<Writer<'a>>,
    now: Option<Result<Option<String>>>,
    walked: Option<Result<SiteWalk>>,
}

/// What the files snapshot holds, and how it is tagged.
struct Files {
    paths: Vec<PathBuf>,
    excludes: Vec<String>,
    tags: Vec<String>,
}

/// What the manifest and the files snapshot say about a reused dump; returns it, or the
/// fingerprint a fresh dump starts from.
fn note_decision(
    decision: Option<DbDecision>,
    manifest: &mut Manifest,
    files_tags: &mut Vec<String>,
) -> (Option<DumpRecord>, Option<Option<String>>) {
    match decision {
        Some(DbDecision::Reuse(rec)) => {
            manifest.tables = rec.tables.clone();
            manifest.dump_sha256 = Some(rec.dump_sha256.clone());
            manifest.dump_bytes = rec.dump_bytes;
            manifest.db_snapshot = Some(rec.snapshot.clone());
            // the run's dump is an earlier run's
            files_tags.push(snapshot_tags::dump_ref(&rec.snapshot));
            (Some(rec), None)
        }
        Some(DbDecision::Dump { before }) => (None, Some(before)),
        None => (None, None),
    }
}

/// Backs up one site: the files snapshot (site tree, site file, credentials, manifest) and the
/// database — a reference to the previous dump when it is unchanged, else a fresh dump streamed
/// into restic while the files are backed up (the dump carries its own description, so the
/// manifest does not wait for it).
pub(crate) fn backup_site(
    root: &Root,
    config: &Config,
    repo: &Repo,
    site: &Site,
    kind: RunKind,
) -> Result<RunResult> {
    let g = &config.global;
    let start = Instant::now();
    let (run, time) = run_id()?;
    let name = site.name.as_str();
    let mut manifest = Manifest {
        site: name.to_owned(),
        run: run.clone(),
        time: time.clone(),
        ..Manifest::default()
    };
    let mut files_tags = tags(name, &run, "files", kind);
    let site_dir = root.path(&site.paths.site_dir);
    let previous = match &site.db {
        Some(db) => previous_dump(root, g, repo, name, &db.database, kind)?,
        None => None,
    };
    let r = Run {
        root,
        g,
        repo,
        site,
        run,
        kind,
    };
    let reads = r.read(&site_dir);
    let writer = reads.writer?;
    let decision = match (&site.db, reads.now) {
        (Some(db), Some(now)) => {
            manifest.database = Some(db.database.clone());
            Some(decide_database(previous, now?, &writer, name))
        }
        _ => None,
    };
    let (reused, fresh_before) = note_decision(decision, &mut manifest, &mut files_tags);
    let files = Files {
        paths: r.files_paths(&mut manifest, reads.walked, &site_dir)?,
        excludes: restic_excludes(&site_dir, &repo.cfg.exclude)?,
        tags: files_tags,
    };
    let (summary, fresh) = r.snapshots(&writer, &files, fresh_before)?;
    let mut size_bytes = summary.total_bytes_processed;
    let mut added_bytes = summary.data_added;
    let db_snapshot = match (&reused, &fresh) {
        (Some(rec), _) => Some(rec.snapshot.clone()),
        (None, Some(d)) => {
            size_bytes += d.dump_bytes;
            added_bytes += d.added_bytes;
            if let Some(rec) = &d.record {
                write_dump_record(root, g, name, rec)?;
            }
            Some(d.snapshot.clone())
        }
        (None, None) => None,
    };
    Ok(RunResult {
        site: name.to_owned(),
        run: r.run,
        time,
        files_snapshot: summary.snapshot_id,
        db_snapshot,
        dump_reused: reused.is_some(),
        files: manifest.files,
        size_bytes,
        added_bytes,
        duration_seconds: start.elapsed().as_secs_f64(),
        safety: kind == RunKind::Safety,
    })
}
