//! Site backups with restic: one run per site is a `files` snapshot (the site tree minus the
//! exclude globs, the site file, the site's credentials and a manifest) and, for sites with a
//! database, a `db` snapshot holding the dump streamed in as `lempctl/<site>/db.sql`. Both carry
//! the tags `lempctl`, `site=<name>`, `run=<id>`, `part=files|db`; the files snapshot names its
//! dump with `db=<id>`, which is an earlier run's when the database did not change. Retention
//! applies to files snapshots (runs); a dump lives while a kept run refers to it. Snapshot times
//! are restic's own (nanoseconds), so runs never tie. Runs on one repository never overlap
//! (`<state_dir>/backup.lock`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::database::with_admin;
use super::repo_files::RepoFiles;
use super::repo_lock;
use crate::config::global::{BackupGlobal, Global};
use crate::config::{Config, Site, SiteKind, UsageError};
use crate::host::exec::{pipe, pipe_with_trailer};
use crate::host::{Journal, Perms, Root, walk};
use crate::services::mariadb::{self, ClientOptions, RowCounter, sql};
use crate::services::restic::excludes::{excluded, excluded_path, restic_excludes};
use crate::services::restic::key::MasterKey;
use crate::services::restic::tags as snapshot_tags;
use crate::services::restic::{Keep, Restic, Snapshot, Summary};
use crate::services::rustic;

/// How many files of a site are checksummed in the manifest (evenly spread over the sorted list).
const SAMPLE: usize = 24;

/// What a backup holds besides the data, written before the files snapshot and stored in it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
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

/// The repository of the configuration, ready to use.
#[derive(Debug, Clone)]
pub struct Repo {
    pub restic: Restic,
    pub cfg: BackupGlobal,
    /// This call initialised the repository.
    pub created: bool,
}

/// The repository as lempctl reads and writes it itself: its files and its master key.
pub struct Writer<'a> {
    files: RepoFiles<'a>,
    master: MasterKey,
}

impl Repo {
    /// Opens the repository's key (the fast one: a few milliseconds).
    fn writer<'a>(&self, root: &'a Root) -> Result<Writer<'a>> {
        let password = super::repo_key::password(root, &self.cfg)?;
        let files = RepoFiles::open(root, &self.cfg)?;
        let master = repo_lock::master_key(&files, password.as_bytes())?;
        Ok(Writer { files, master })
    }

    /// A snapshot of `paths` (real paths), written in-process under restic's repository lock
    /// (`services::rustic` says why).
    fn snapshot_files(
        &self,
        root: &Root,
        w: &Writer,
        paths: &[PathBuf],
        excludes: &[String],
        tags: &[String],
    ) -> Result<Summary> {
        let dir = self.cfg.local_path().map(|p| root.path(&p));
        let location = match (&dir, self.cfg.repository.strip_prefix("s3:")) {
            (Some(d), _) => rustic::Location::Local(d),
            (None, Some(url)) => rustic::Location::S3(url),
            (None, None) => bail!("unsupported repository {}", self.cfg.repository),
        };
        repo_lock::with_shared_lock(&w.files, &w.master, || {
            rustic::backup(
                &location,
                w.master.json(),
                &self.restic.cache_dir,
                paths,
                excludes,
                tags,
            )
        })
    }
}

impl Writer<'_> {
    /// The tags of the snapshot whose id starts with `prefix`, read from the repository directly
    /// (a restic process would cost more than the whole lookup).
    fn snapshot_tags(&self, prefix: &str) -> Result<Option<Vec<String>>> {
        let Some(id) = self
            .files
            .list("snapshots")?
            .into_iter()
            .find(|n| n.starts_with(prefix))
        else {
            return Ok(None);
        };
        let Some(bytes) = self.files.get("snapshots", &id)? else {
            return Ok(None);
        };
        #[derive(Deserialize)]
        struct Tagged {
            #[serde(default)]
            tags: Vec<String>,
        }
        let plain = self.master.decrypt_unpacked(&bytes)?;
        let t: Tagged = serde_json::from_slice(&plain).context("reading a snapshot")?;
        Ok(Some(t.tags))
    }
}

/// Host path of lempctl's backup data (password, manifests, status, scratch dirs).
pub fn backup_dir(g: &Global) -> PathBuf {
    g.paths.state_dir.join("backup")
}

/// Host path of the note naming the repository lempctl initialised or opened.
pub fn repository_marker(g: &Global) -> PathBuf {
    backup_dir(g).join("repository")
}

fn manifest_path(g: &Global, site: &str) -> PathBuf {
    backup_dir(g).join("manifests").join(format!("{site}.json"))
}

fn status_path(g: &Global) -> PathBuf {
    backup_dir(g).join("status.json")
}

/// The configured repository; the password is generated (CSPRNG, 0600) when absent, and the
/// repository is initialised when `init` and it does not exist yet.
pub fn open(root: &Root, g: &Global, init: bool) -> Result<Repo> {
    let Some(cfg) = g.backup.clone() else {
        return Err(UsageError(format!(
            "no backup repository: add a `backup: {{ repository: … }}` section to {}",
            g.file.display()
        ))
        .into());
    };
    if root.read(&cfg.password_file)?.is_none() {
        if !init {
            bail!(
                "the repository password {} does not exist: no backup was made with this configuration",
                root.path(&cfg.password_file).display()
            );
        }
        let pw = mariadb::Secret::generate()?;
        root.write_private(
            &cfg.password_file,
            format!("{}\n", pw.expose()).as_bytes(),
            0o600,
        )?;
        super::repo_key::record_generated(root, &cfg, pw.expose())?;
    }
    let repository = match cfg.local_path() {
        Some(p) => root.path(&p).to_string_lossy().into_owned(),
        None => cfg.repository.clone(),
    };
    let restic = Restic {
        program: cfg.restic.clone(),
        repository,
        password_file: root.path(&cfg.password_file),
        cache_dir: root.path(&backup_dir(g).join("cache")),
    };
    // A repository lempctl initialised (or opened) before is not probed again: one restic start
    // less per command, and a repository that vanished (an unmounted disk) is an error rather
    // than silently replaced by a new, empty one.
    let marker = repository_marker(g);
    let known = root
        .read(&marker)?
        .is_some_and(|b| String::from_utf8_lossy(&b).trim_end() == restic.repository);
    if known {
        return Ok(Repo {
            restic,
            cfg,
            created: false,
        });
    }
    let mut created = false;
    if !restic.exists() {
        if !init {
            bail!(
                "the backup repository {} cannot be opened (not initialised, unreachable, or a wrong password)",
                restic.repository
            );
        }
        restic
            .init()
            .context("initialising the backup repository")?;
        created = true;
        // a slow key only costs time: the repository works either way
        if let Err(e) = super::repo_key::make_fast(root, &cfg, &restic) {
            tracing::warn!("the repository keeps restic's calibrated key: {e:#}");
        }
    }
    root.write_private(
        &marker,
        format!("{}\n", restic.repository).as_bytes(),
        0o600,
    )?;
    Ok(Repo {
        restic,
        cfg,
        created,
    })
}

/// Takes `<state_dir>/backup.lock` (runs of any site never overlap on the repository).
pub fn lock(root: &Root, g: &Global, wait: Duration) -> Result<super::lock::Lock> {
    super::lock::acquire(&root.path(&g.paths.state_dir.join("backup.lock")), wait)
}

/// A site from the command line: it must be in the sites directory and have files.
pub fn find_site<'a>(config: &'a Config, name: &str) -> Result<&'a Site> {
    let fqdn = crate::config::Fqdn::parse(name)
        .map_err(|why| UsageError(format!("invalid site name `{name}`: {why}")))?;
    if let Some(b) = config.broken_site(fqdn.as_str()) {
        return Err(b.error());
    }
    let site = config.site(&fqdn).ok_or_else(|| {
        UsageError(format!(
            "no site `{fqdn}` in {}",
            config.global.paths.sites_dir.display()
        ))
    })?;
    if site.kind == SiteKind::Redirect {
        return Err(UsageError(format!(
            "site `{fqdn}` is a redirect: it has no files or database to back up"
        ))
        .into());
    }
    Ok(site)
}

/// The result of backing up one site.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
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

fn tags(site: &str, run: &str, part: &str, kind: RunKind) -> Vec<String> {
    snapshot_tags::of_run(site, run, part, kind.marker())
}

/// Why a run is taken: on demand or by the timer, before an in-place restore (`safety`), or
/// before data is destroyed (`reason=final`: `site remove --purge`, `db drop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
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

/// Path of the dump inside a `db` snapshot.
pub fn dump_name(site: &str) -> String {
    format!("lempctl/{site}/db.sql")
}

/// The line lempctl appends to a dump in the repository (after a newline of its own): what the
/// dump holds, known only once it has been read. An SQL comment, so loading the dump ignores it.
const TRAILER: &str = "-- lempctl-dump ";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct DumpTrailer {
    /// Rows per table, counted in the stream.
    tables: BTreeMap<String, u64>,
    /// SHA-256 of the dump without the trailer.
    sha256: String,
    bytes: u64,
}

fn trailer_bytes(t: &DumpTrailer) -> Vec<u8> {
    let json = serde_json::to_string(t).unwrap_or_default();
    format!("\n{TRAILER}{json}\n").into_bytes()
}

/// Reads a restored dump as it streams by: hashes it, holding back its end until the trailer
/// (when there is one) can be told apart from the dump.
struct TrailerReader {
    hash: Sha256,
    held: Vec<u8>,
}

/// How much of the stream is held back: a trailer of a database with very many tables fits.
const HOLD: usize = 4 << 20;

impl TrailerReader {
    fn new() -> Self {
        TrailerReader {
            hash: Sha256::new(),
            held: Vec::new(),
        }
    }

    fn feed(&mut self, b: &[u8]) {
        self.held.extend_from_slice(b);
        if self.held.len() > 2 * HOLD {
            let n = self.held.len() - HOLD;
            self.hash.update(&self.held[..n]);
            self.held.drain(..n);
        }
    }

    /// The SHA-256 of the dump proper, and the trailer if the stream ends with one.
    fn finish(mut self) -> (String, Option<DumpTrailer>) {
        let marker = format!("\n{TRAILER}");
        let found = self
            .held
            .windows(marker.len())
            .rposition(|w| w == marker.as_bytes())
            .and_then(|at| {
                let line = self.held[at + marker.len()..].strip_suffix(b"\n")?;
                let t: DumpTrailer = serde_json::from_slice(line).ok()?;
                Some((at, t))
            });
        let end = found.as_ref().map_or(self.held.len(), |(at, _)| *at);
        self.hash.update(&self.held[..end]);
        (hex::encode(self.hash.finalize()), found.map(|(_, t)| t))
    }
}

/// SHA-256 of the regular file `rel` below `dir`, opened without following any link: the site
/// user may swap a walked name for a link before it is read.
fn sha256_file(dir: &std::os::fd::OwnedFd, shown: &Path, rel: &Path) -> Result<String> {
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
fn site_files(dir: &Path, globs: &[String]) -> Result<(Vec<String>, u64)> {
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
struct SiteWalk {
    files: u64,
    bytes: u64,
    /// (relative path, SHA-256) of a sample of the files
    sample: Vec<(String, String)>,
}

fn walk_site(dir: &Path, globs: &[String]) -> Result<SiteWalk> {
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

/// Streams a fresh dump into restic (with its trailer); it is remembered only when the
/// fingerprint did not move while it ran.
#[allow(clippy::too_many_arguments)]
fn dump_database(
    root: &Root,
    g: &Global,
    repo: &Repo,
    site: &str,
    database: &str,
    run: &str,
    kind: RunKind,
    before: Option<String>,
) -> Result<DbPart> {
    let target = super::database::admin_target(root, g)?;
    let opts = ClientOptions::write(&target)?;
    let dump = mariadb::backup_dump_cmd(&opts, database);
    let store = repo
        .restic
        .backup_stdin_cmd(&dump_name(site), &tags(site, run, "db", kind));
    let counter = std::cell::RefCell::new(RowCounter::default());
    let hash = std::cell::RefCell::new(Sha256::new());
    let described = std::cell::RefCell::new(DumpTrailer::default());
    let bytes = std::cell::Cell::new(0u64);
    let out = pipe_with_trailer(
        &dump,
        &store,
        &mut |b| {
            counter.borrow_mut().feed(b);
            hash.borrow_mut().update(b);
            bytes.set(bytes.get() + b.len() as u64);
        },
        &mut || {
            let t = DumpTrailer {
                tables: std::mem::take(&mut *counter.borrow_mut()).finish(),
                sha256: hex::encode(std::mem::take(&mut *hash.borrow_mut()).finalize()),
                bytes: bytes.get(),
            };
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
            repository: repo.restic.repository.clone(),
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

/// Backs up one site: the files snapshot (site tree, site file, credentials, manifest) and the
/// database — a reference to the previous dump when it is unchanged, else a fresh dump streamed
/// into restic while the files are backed up (the dump carries its own description, so the
/// manifest does not wait for it).
pub fn backup_site(
    root: &Root,
    config: &Config,
    repo: &Repo,
    site: &Site,
    kind: RunKind,
) -> Result<RunResult> {
    let safety = kind == RunKind::Safety;
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
    // independent reads at once: the repository key, the database fingerprint, the site walk
    let previous = match &site.db {
        Some(db) => previous_dump(root, g, repo, name, &db.database, kind)?,
        None => None,
    };
    let (writer, now, walked) = std::thread::scope(|s| {
        let writer = s.spawn(|| repo.writer(root));
        let now = site.db.as_ref().map(|db| {
            s.spawn(|| {
                let target = super::database::admin_target(root, g)?;
                Ok::<_, anyhow::Error>(fingerprint(&target, &db.database))
            })
        });
        let walked = if site_dir.is_dir() {
            Some(walk_site(&site_dir, &repo.cfg.exclude))
        } else {
            None
        };
        (
            writer.join().expect("key thread"),
            now.map(|h| h.join().expect("fingerprint thread")),
            walked,
        )
    });
    let writer = writer?;
    let decision = match (&site.db, now) {
        (Some(db), Some(now)) => {
            manifest.database = Some(db.database.clone());
            Some(decide_database(previous, now?, &writer, name))
        }
        _ => None,
    };
    let mut fresh_before = None;
    let mut reused = None;
    match decision {
        Some(DbDecision::Reuse(rec)) => {
            manifest.tables = rec.tables.clone();
            manifest.dump_sha256 = Some(rec.dump_sha256.clone());
            manifest.dump_bytes = rec.dump_bytes;
            manifest.db_snapshot = Some(rec.snapshot.clone());
            // the run's dump is an earlier run's
            files_tags.push(snapshot_tags::dump_ref(&rec.snapshot));
            reused = Some(rec);
        }
        Some(DbDecision::Dump { before }) => fresh_before = Some(before),
        None => {}
    }
    let mut paths = Vec::new();
    if let Some(walked) = walked {
        let walked = walked?;
        manifest.files = walked.files;
        manifest.file_bytes = walked.bytes;
        manifest.sample = walked.sample;
        paths.push(site_dir.clone());
    }
    let mpath = manifest_path(g, name);
    root.write_private(
        &mpath,
        &serde_json::to_vec_pretty(&manifest).context("manifest")?,
        0o600,
    )?;
    paths.push(root.path(&mpath));
    paths.push(site.file.clone());
    let creds = super::secrets::path(g, name);
    if root.read(&creds)?.is_some() {
        paths.push(root.path(&creds));
    }
    let excludes = restic_excludes(&site_dir, &repo.cfg.exclude)?;
    // a fresh dump (linked to this run by its `run` tag) streams while the files are backed up
    let (files, fresh) = std::thread::scope(|s| {
        let dumping = match (&site.db, fresh_before) {
            (Some(db), Some(before)) => Some(
                s.spawn(|| dump_database(root, g, repo, name, &db.database, &run, kind, before)),
            ),
            _ => None,
        };
        let files = repo
            .snapshot_files(root, &writer, &paths, &excludes, &files_tags)
            .with_context(|| format!("backing up the files of `{name}`"));
        let fresh = dumping.map(|h| h.join().expect("dump thread"));
        (files, fresh)
    });
    let (summary, fresh): (Summary, Option<DbPart>) = match (files, fresh) {
        (Ok(f), None) => (f, None),
        (Ok(f), Some(Ok(d))) => (f, Some(d)),
        // half a run is no run: forget what was written (best effort; prune would drop it too)
        (files, fresh) => {
            let written: Vec<String> = [
                files.as_ref().ok().map(|f| f.snapshot_id.clone()),
                fresh
                    .as_ref()
                    .and_then(|d| d.as_ref().ok())
                    .map(|d| d.snapshot.clone()),
            ]
            .into_iter()
            .flatten()
            .collect();
            let _ = repo.restic.forget_ids(&written);
            return Err(match (files, fresh) {
                (Err(e), _) | (_, Some(Err(e))) => e,
                _ => anyhow::anyhow!("backup of `{name}` failed"),
            });
        }
    };
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
        run,
        time,
        files_snapshot: summary.snapshot_id,
        db_snapshot,
        dump_reused: reused.is_some(),
        files: manifest.files,
        size_bytes,
        added_bytes,
        duration_seconds: start.elapsed().as_secs_f64(),
        safety,
    })
}

/// One backup run of a site as listed: its snapshots grouped by the `run` tag.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub site: String,
    pub run: String,
    pub time: String,
    pub files_snapshot: Option<String>,
    pub db_snapshot: Option<String>,
    pub safety: bool,
    /// Taken before the site or its database was removed (`site remove --purge`, `db drop`).
    #[serde(rename = "final")]
    pub final_run: bool,
}

/// Every run in the repository (of one site when given), oldest first.
pub fn entries(repo: &Repo, site: Option<&str>) -> Result<Vec<Entry>> {
    let snaps = repo.restic.snapshots(&snapshot_tags::of_site(site))?;
    Ok(group(&snaps))
}

fn group(snaps: &[Snapshot]) -> Vec<Entry> {
    let mut runs: BTreeMap<(String, String), Entry> = BTreeMap::new();
    for s in snaps {
        let (Some(site), Some(run)) = (s.site(), s.run()) else {
            continue;
        };
        let e = runs
            .entry((site.to_owned(), run.to_owned()))
            .or_insert_with(|| Entry {
                site: site.to_owned(),
                run: run.to_owned(),
                time: s.time.clone(),
                files_snapshot: None,
                db_snapshot: None,
                safety: s.is_safety(),
                final_run: s.is_final(),
            });
        match s.part() {
            Some("db") => e.db_snapshot = Some(s.id.clone()),
            _ => {
                e.files_snapshot = Some(s.id.clone());
                // restic's backup summary names the snapshot by its short id: resolve it
                if let Some(db) = s.dump_ref() {
                    let full = snaps.iter().find(|d| d.id.starts_with(db));
                    e.db_snapshot = Some(full.map_or(db, |d| d.id.as_str()).to_owned());
                }
            }
        }
    }
    // a dump kept only because later runs refer to it is not a run of its own any more
    let used = dumps_in_use(runs.values());
    let mut v: Vec<Entry> = runs
        .into_values()
        .filter(|e| {
            e.files_snapshot.is_some() || !e.db_snapshot.as_ref().is_some_and(|d| used.contains(d))
        })
        .collect();
    v.sort_by(|a, b| a.time.cmp(&b.time).then(a.run.cmp(&b.run)));
    v
}

/// The dumps (full `db` snapshot ids) that runs with a files snapshot refer to.
fn dumps_in_use<'a>(runs: impl Iterator<Item = &'a Entry>) -> std::collections::BTreeSet<String> {
    runs.filter(|e| e.files_snapshot.is_some())
        .filter_map(|e| e.db_snapshot.clone())
        .collect()
}

/// The run `wanted` names (a run id, or a prefix of one of its snapshot ids), else the latest
/// run that is not a safety snapshot.
pub fn select(entries: &[Entry], site: &str, wanted: Option<&str>) -> Result<Entry> {
    let found = match wanted {
        Some(w) => entries.iter().find(|e| {
            e.run == w
                || (w.len() >= 4
                    && [&e.files_snapshot, &e.db_snapshot]
                        .into_iter()
                        .flatten()
                        .any(|id| id.starts_with(w)))
        }),
        None => entries.iter().rev().find(|e| !e.safety),
    };
    found.cloned().ok_or_else(|| {
        let what = match wanted {
            Some(w) => format!("no backup `{w}` of site `{site}`"),
            None => format!("site `{site}` has no backup yet"),
        };
        UsageError(format!(
            "{what}; `lempctl backup list {site}` shows the backups"
        ))
        .into()
    })
}

/// What to restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parts {
    All,
    FilesOnly,
    DbOnly,
}

/// How to restore (`backup restore`).
#[derive(Debug, Clone, Copy)]
pub struct RestoreSpec<'a> {
    /// A run or snapshot id; `None`: the latest run.
    pub wanted: Option<&'a str>,
    pub parts: Parts,
    /// Into this directory instead of in place.
    pub to: Option<&'a Path>,
    /// In place: files the site gained since the backup are removed, not kept.
    pub delete: bool,
    /// Only say what would be restored.
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreResult {
    pub site: String,
    pub run: String,
    /// With `dry_run`: what would be restored; nothing was changed.
    pub dry_run: bool,
    pub files_restored: bool,
    pub database_restored: bool,
    /// In place with `--delete`: entries (files, links, whole new directories) the site gained
    /// since the backup, removed.
    pub removed_since_backup: u64,
    /// The safety snapshot taken before an in-place restore.
    pub safety_run: Option<String>,
    /// Where `--to` put the files (and `lempctl/<site>/db.sql`).
    pub to: Option<PathBuf>,
    /// Entries removed from the site's page cache after an in-place restore.
    pub cache_entries_purged: usize,
}

/// Restores a run of a site, in place (after a safety snapshot) or into `to`.
pub fn restore(
    root: &Root,
    config: &Config,
    repo: &Repo,
    site: &Site,
    spec: &RestoreSpec<'_>,
) -> Result<RestoreResult> {
    let (wanted, parts, to) = (spec.wanted, spec.parts, spec.to);
    let name = site.name.as_str();
    let entry = select(&entries(repo, Some(name))?, name, wanted)?;
    let want_files = parts != Parts::DbOnly;
    let want_db =
        parts != Parts::FilesOnly && (entry.db_snapshot.is_some() || parts == Parts::DbOnly);
    let files_snap = entry.files_snapshot.clone();
    if want_files && files_snap.is_none() {
        return Err(UsageError(format!(
            "backup `{}` of `{name}` has no files snapshot",
            entry.run
        ))
        .into());
    }
    if want_db && (entry.db_snapshot.is_none() || site.db.is_none()) {
        return Err(UsageError(format!(
            "backup `{}` of `{name}` has no database dump, or the site has no database",
            entry.run
        ))
        .into());
    }
    let mut result = RestoreResult {
        site: name.to_owned(),
        run: entry.run.clone(),
        dry_run: spec.dry_run,
        files_restored: false,
        database_restored: false,
        removed_since_backup: 0,
        safety_run: None,
        to: to.map(Path::to_path_buf),
        cache_entries_purged: 0,
    };
    if spec.dry_run {
        result.files_restored = want_files;
        result.database_restored = want_db;
        return Ok(result);
    }
    if let Some(dir) = to {
        if let Some(id) = files_snap.as_deref().filter(|_| want_files) {
            repo.restic.restore(id, dir, &[])?;
            result.files_restored = true;
        }
        if let Some(id) = entry.db_snapshot.as_deref().filter(|_| want_db) {
            repo.restic.restore(id, dir, &[])?;
            result.database_restored = true;
        }
        return Ok(result);
    }
    let safety = backup_site(root, config, repo, site, RunKind::Safety)
        .context("taking the safety snapshot before restoring (nothing was restored)")?;
    result.safety_run = Some(safety.run);
    if let Some(id) = files_snap.as_deref().filter(|_| want_files) {
        result.removed_since_backup = restore_files_in_place(
            root,
            repo,
            id,
            &site.paths.site_dir,
            spec.delete,
            &repo.cfg.exclude,
        )?;
        result.files_restored = true;
    }
    if let (Some(id), Some(db)) = (entry.db_snapshot.as_deref().filter(|_| want_db), &site.db) {
        let target = super::database::admin_target(root, &config.global)?;
        super::database::recreate_empty(&target, db)?;
        load_dump(repo, &target, id, name, &db.database, &mut |_| {})?;
        result.database_restored = true;
    }
    // Pages cached before the restore show what is no longer there (a hacked title).
    if result.files_restored || result.database_restored {
        result.cache_entries_purged = root
            .clear_dir(&config.global.cache_dir.join(name))
            .context("purging the page cache after the restore")?;
    }
    Ok(result)
}

/// Restores the site directory of snapshot `id` beside the live one, in a fresh root-only
/// directory the site user cannot reach (restic writes through no link it planted), then
/// exchanges each restored top-level entry with the live one. What the site gained since the
/// backup is moved back beside the restored files, or with `delete` removed with the old entries
/// (recovery from a hack; the safety snapshot still has it); returns how many entries that was.
/// Entries the backup excludes (`tmp`, `sessions`) stay as they are.
fn restore_files_in_place(
    root: &Root,
    repo: &Repo,
    id: &str,
    site_dir: &Path,
    delete: bool,
    excludes: &[String],
) -> Result<u64> {
    let parent = site_dir.parent().context("a site directory has a parent")?;
    let stage = parent.join(format!(".lempctl-restore-{:016x}", rand::random::<u64>()));
    root.ensure_dir(&mut Journal::default(), &stage, &Perms::root(0o700))?;
    let done = (|| -> Result<u64> {
        let real_site = root.path(site_dir);
        repo.restic
            .restore(id, &root.path(&stage), std::slice::from_ref(&real_site))?;
        let restored = stage.join(real_site.strip_prefix("/").unwrap_or(&real_site));
        root.exchange_entries(&restored, site_dir)?;
        // the old entries are now where the restored ones were; what the backup never held
        // (its excludes: caches, temporary files) is kept even with `delete`
        root.merge_missing(&restored, site_dir, &|rel| {
            if !delete {
                return true;
            }
            excluded_path(rel, excludes)
        })
    })();
    let cleaned = root.remove_tree(&stage);
    let gained = done.context("restoring the files")?;
    cleaned?;
    Ok(gained)
}

/// What `backup restore SITE --as NEW` restored into the new site.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreAsResult {
    pub site: String,
    pub new_site: String,
    pub run: String,
    pub files: usize,
    pub database: Option<String>,
    pub urls_rewritten: bool,
    /// The copy's WordPress admin password was set to the one stored for the new site (the
    /// dump carries the source's).
    pub admin_password_set: bool,
}

/// Restores the run `entry` of `old` into `new` (a converged site): the document root (except
/// wp-config.php, which the new site renders itself) with the new site's owner, the dump into the
/// new site's database, and for WordPress the URLs of the old name replaced by the new one.
pub fn restore_as(
    root: &Root,
    config: &Config,
    repo: &Repo,
    old: &Site,
    new: &Site,
    entry: &Entry,
) -> Result<RestoreAsResult> {
    let g = &config.global;
    let mut result = RestoreAsResult {
        site: old.name.to_string(),
        new_site: new.name.to_string(),
        run: entry.run.clone(),
        files: 0,
        database: None,
        urls_rewritten: false,
        admin_password_set: false,
    };
    if let Some(id) = entry.files_snapshot.as_deref() {
        let tag: String = hex::encode(Sha256::digest(format!(
            "{}{}",
            entry.run,
            std::process::id()
        )))[..12]
            .to_owned();
        let scratch = backup_dir(g).join(format!("restore-as-{tag}"));
        let copied = (|| -> Result<usize> {
            let old_root = root.path(&old.paths.document_root);
            repo.restic
                .restore(id, &root.path(&scratch), std::slice::from_ref(&old_root))?;
            let src = root
                .path(&scratch)
                .join(old_root.strip_prefix("/").unwrap_or(&old_root));
            if !src.is_dir() {
                return Ok(0);
            }
            root.clear_dir(&new.paths.document_root)?;
            let mut journal = Journal::default();
            let u = &new.user;
            root.copy_tree(
                &mut journal,
                &src,
                &new.paths.document_root,
                &["wp-config.php"],
                crate::host::Links::Recreate,
                &crate::host::Perms::new(u, &g.web_group, 0o2750),
                &crate::host::Perms::new(u, &g.web_group, 0o640),
            )
        })();
        root.remove_tree(&scratch)?;
        result.files = copied.context("restoring the files into the new site")?;
    }
    if let (Some(id), Some(db)) = (entry.db_snapshot.as_deref(), &new.db) {
        let target = super::database::admin_target(root, g)?;
        super::database::recreate_empty(&target, db)?;
        load_dump(
            repo,
            &target,
            id,
            old.name.as_str(),
            &db.database,
            &mut |_| {},
        )?;
        result.database = Some(db.database.clone());
        if let Some(wp) = &new.wordpress {
            let stmts = sql::wordpress_replace_url(
                &db.database,
                &wp.table_prefix,
                &format!("//{}", old.name),
                &format!("//{}", new.name),
            )?;
            with_admin(&target, async |admin| {
                for st in &stmts {
                    admin.exec(st).await?;
                }
                Ok(())
            })
            .context("rewriting the WordPress URLs")?;
            result.urls_rewritten = true;
        }
    }
    Ok(result)
}

/// Streams the dump of a `db` snapshot into `database` through the `mariadb` client.
fn load_dump(
    repo: &Repo,
    target: &mariadb::AdminTarget,
    snapshot: &str,
    site: &str,
    database: &str,
    tap: &mut dyn FnMut(&[u8]),
) -> Result<u64> {
    let opts = ClientOptions::write(target)?;
    let client = mariadb::load_cmd(&repo.cfg.mariadb, &opts, database);
    let out = pipe(
        &repo
            .restic
            .dump_cmd(snapshot, &format!("/{}", dump_name(site))),
        &client,
        tap,
    )
    .with_context(|| format!("loading the dump into `{database}`"))?;
    Ok(out.bytes)
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneResult {
    pub sites: Vec<String>,
    pub snapshots_before: usize,
    pub snapshots_after: usize,
}

/// Applies every site's retention (sites with a `backup` section), then prunes unused data.
pub fn prune(config: &Config, repo: &Repo) -> Result<PruneResult> {
    let before = repo.restic.snapshots(&snapshot_tags::of_site(None))?.len();
    let mut sites = Vec::new();
    for site in &config.sites {
        let Some(b) = &site.backup else { continue };
        let keep = Keep {
            last: b.keep_last,
            daily: b.keep_daily,
            weekly: b.keep_weekly,
            monthly: b.keep_monthly,
        };
        // the policy applies to runs (their files snapshots); a dump lives on while a kept run
        // refers to it, which may be a run later than the one that took it
        repo.restic
            .forget(&snapshot_tags::files_of(site.name.as_str()), keep)?;
        sites.push(site.name.to_string());
    }
    let snaps = repo.restic.snapshots(&snapshot_tags::of_site(None))?;
    let referenced = dumps_in_use(group(&snaps).iter());
    let unreferenced: Vec<String> = snaps
        .iter()
        .filter(|s| s.part() == Some("db") && !referenced.contains(&s.id))
        .filter(|s| sites.iter().any(|n| s.site() == Some(n.as_str())))
        .map(|s| s.id.clone())
        .collect();
    repo.restic.forget_ids(&unreferenced)?;
    repo.restic.prune()?;
    let after = repo.restic.snapshots(&snapshot_tags::of_site(None))?.len();
    Ok(PruneResult {
        sites,
        snapshots_before: before,
        snapshots_after: after,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct SiteVerify {
    pub site: String,
    pub run: String,
    pub files: u64,
    pub tables: usize,
    pub rows: u64,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyResult {
    pub repository_ok: bool,
    pub check_output: Option<String>,
    pub sites: Vec<SiteVerify>,
}

impl VerifyResult {
    pub fn ok(&self) -> bool {
        self.repository_ok && self.sites.iter().all(|s| s.problems.is_empty())
    }
}

/// `restic check`, then the latest backup of each site restored into a scratch directory and a
/// scratch database and compared with its manifest.
pub fn verify(
    root: &Root,
    config: &Config,
    repo: &Repo,
    only: Option<&Site>,
    read_data: bool,
) -> Result<VerifyResult> {
    let check = repo.restic.check(read_data)?;
    let mut out = VerifyResult {
        repository_ok: check.is_none(),
        check_output: check,
        sites: Vec::new(),
    };
    let all = entries(repo, only.map(|s| s.name.as_str()))?;
    for site in config
        .sites
        .iter()
        .filter(|s| only.is_none_or(|o| o.name == s.name))
    {
        let name = site.name.as_str();
        let Some(entry) = all.iter().rev().find(|e| e.site == name && !e.safety) else {
            continue;
        };
        let mut v = SiteVerify {
            site: name.to_owned(),
            run: entry.run.clone(),
            files: 0,
            tables: 0,
            rows: 0,
            problems: Vec::new(),
        };
        if let Err(e) = verify_site(root, config, repo, site, entry, &mut v) {
            v.problems.push(format!("{e:#}"));
        }
        out.sites.push(v);
    }
    Ok(out)
}

fn verify_site(
    root: &Root,
    config: &Config,
    repo: &Repo,
    site: &Site,
    entry: &Entry,
    v: &mut SiteVerify,
) -> Result<()> {
    let g = &config.global;
    let name = site.name.as_str();
    let tag: String = hex::encode(Sha256::digest(format!(
        "{}{}",
        entry.run,
        std::process::id()
    )))[..12]
        .to_owned();
    let scratch = backup_dir(g).join(format!("verify-{tag}"));
    let files_snap = entry
        .files_snapshot
        .as_deref()
        .context("the backup has no files snapshot")?;
    let result = (|| -> Result<()> {
        repo.restic.restore(files_snap, &root.path(&scratch), &[])?;
        let inside = |real: &Path| {
            root.path(&scratch)
                .join(real.strip_prefix("/").unwrap_or(real))
        };
        let mpath = inside(&root.path(&manifest_path(g, name)));
        let manifest: Manifest = serde_json::from_slice(
            &std::fs::read(&mpath)
                .with_context(|| format!("the backup holds no manifest ({})", mpath.display()))?,
        )
        .context("reading the manifest")?;
        if manifest.run != entry.run {
            v.problems.push(format!(
                "the manifest belongs to run {}, not {}",
                manifest.run, entry.run
            ));
        }
        let dir = inside(&root.path(&site.paths.site_dir));
        if manifest.files > 0 || dir.exists() {
            let (files, _) = site_files(&dir, &[])?;
            v.files = files.len() as u64;
            if v.files != manifest.files {
                v.problems.push(format!(
                    "{} files restored, the manifest lists {}",
                    v.files, manifest.files
                ));
            }
            let dir_fd =
                walk::open_start(&dir).with_context(|| format!("opening {}", dir.display()))?;
            for (rel, sum) in &manifest.sample {
                match sha256_file(&dir_fd, &dir, Path::new(rel)) {
                    Ok(s) if &s == sum => {}
                    Ok(_) => v
                        .problems
                        .push(format!("{rel}: checksum differs from the manifest")),
                    Err(e) => v.problems.push(format!("{rel}: {e:#}")),
                }
            }
        }
        if let (Some(db_snap), Some(_)) = (entry.db_snapshot.as_deref(), &manifest.database) {
            let scratch_db = format!("lempctl_verify_{tag}");
            let target = super::database::admin_target(root, g)?;
            with_admin(&target, async |admin| {
                admin
                    .exec(&sql::create_database(
                        &scratch_db,
                        &g.database.charset,
                        &g.database.collation,
                    )?)
                    .await
            })?;
            let loaded = (|| -> Result<()> {
                let mut reader = TrailerReader::new();
                load_dump(repo, &target, db_snap, name, &scratch_db, &mut |b| {
                    reader.feed(b)
                })?;
                // what the dump should hold: its own trailer, else (older runs) the manifest
                let (sha, trailer) = reader.finish();
                let (want_sha, want_tables) = match trailer {
                    Some(t) => (Some(t.sha256), t.tables),
                    None => (manifest.dump_sha256.clone(), manifest.tables.clone()),
                };
                if want_sha.as_deref() != Some(sha.as_str()) {
                    v.problems.push(
                        "the restored dump's checksum differs from the one recorded".to_owned(),
                    );
                }
                let counts = with_admin(&target, async |admin| {
                    mariadb::provision::row_counts(admin, &scratch_db, want_tables.keys()).await
                })?;
                v.tables = counts.len();
                v.rows = counts.values().sum();
                for (t, want) in &want_tables {
                    match counts.get(t) {
                        Some(n) if n == want => {}
                        Some(n) => v
                            .problems
                            .push(format!("table `{t}`: {n} rows restored, {want} backed up")),
                        None => v
                            .problems
                            .push(format!("table `{t}` missing after the restore")),
                    }
                }
                Ok(())
            })();
            let dropped = with_admin(&target, async |admin| {
                admin.exec(&sql::drop_database(&scratch_db)?).await
            });
            loaded?;
            dropped?;
        }
        Ok(())
    })();
    root.remove_tree(&scratch)?;
    result
}

/// Per-site outcome of the last runs, for the Prometheus textfile.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SiteStatus {
    pub last_success: Option<i64>,
    pub last_run: i64,
    pub last_run_success: bool,
    pub duration_seconds: f64,
    pub size_bytes: u64,
    pub added_bytes: u64,
    pub error: Option<String>,
}

/// The recorded outcome of the last backup runs, per site (empty before the first run).
pub fn statuses(root: &Root, g: &Global) -> Result<BTreeMap<String, SiteStatus>> {
    Ok(match root.read(&status_path(g))? {
        Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
        None => BTreeMap::new(),
    })
}

/// Records the outcome of a run and rewrites `<textfile_dir>/lempctl_backup.prom` (atomically).
pub fn record(
    root: &Root,
    g: &Global,
    site: &str,
    outcome: Result<&RunResult, String>,
) -> Result<()> {
    let path = status_path(g);
    let mut all: BTreeMap<String, SiteStatus> = match root.read(&path)? {
        Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
        None => BTreeMap::new(),
    };
    let now = chrono::Utc::now().timestamp();
    let s = all.entry(site.to_owned()).or_default();
    s.last_run = now;
    match outcome {
        Ok(r) => {
            s.last_success = Some(now);
            s.last_run_success = true;
            s.duration_seconds = r.duration_seconds;
            s.size_bytes = r.size_bytes;
            s.added_bytes = r.added_bytes;
            s.error = None;
        }
        Err(e) => {
            s.last_run_success = false;
            s.error = Some(e);
        }
    }
    root.write_private(
        &path,
        &serde_json::to_vec_pretty(&all).context("status")?,
        0o600,
    )?;
    if let Some(dir) = g.backup.as_ref().and_then(|b| b.textfile_dir.as_ref()) {
        root.write_private(
            &dir.join("lempctl_backup.prom"),
            prometheus(&all).as_bytes(),
            0o644,
        )?;
    }
    Ok(())
}

/// name, type, help, value of a site.
type Metric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&SiteStatus) -> Option<String>,
);

/// node_exporter textfile format.
pub fn prometheus(all: &BTreeMap<String, SiteStatus>) -> String {
    let mut out = String::new();
    let metrics: [Metric; 5] = [
        (
            "lempctl_backup_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful backup of the site.",
            |s| s.last_success.map(|t| t.to_string()),
        ),
        (
            "lempctl_backup_last_run_success",
            "gauge",
            "1 when the last backup run of the site succeeded.",
            |s| Some(u8::from(s.last_run_success).to_string()),
        ),
        (
            "lempctl_backup_duration_seconds",
            "gauge",
            "Duration of the last successful backup.",
            |s| Some(format!("{:.3}", s.duration_seconds)),
        ),
        (
            "lempctl_backup_size_bytes",
            "gauge",
            "Bytes read by the last successful backup (files and dump).",
            |s| Some(s.size_bytes.to_string()),
        ),
        (
            "lempctl_backup_added_bytes",
            "gauge",
            "Bytes the repository grew by in the last successful backup.",
            |s| Some(s.added_bytes.to_string()),
        ),
    ];
    for (name, kind, help, value) in metrics {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (site, s) in all {
            if let Some(v) = value(s) {
                out.push_str(&format!("{name}{{site=\"{site}\"}} {v}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_group_and_select() {
        let snap = |id: &str, run: &str, part: &str, time: &str, safety: bool| Snapshot {
            id: id.into(),
            short_id: id[..4].into(),
            time: time.into(),
            paths: vec![],
            tags: {
                let mut t = tags(
                    "a.test",
                    run,
                    part,
                    if safety {
                        RunKind::Safety
                    } else {
                        RunKind::Scheduled
                    },
                );
                t.retain(|_| true);
                t
            },
            hostname: "h".into(),
        };
        let e = group(&[
            snap("aaaa1111", "r1", "db", "2024-01-01T00:00:00Z", false),
            snap("bbbb2222", "r1", "files", "2024-01-01T00:00:00Z", false),
            snap("cccc3333", "r2", "files", "2024-01-02T00:00:00Z", true),
        ]);
        assert_eq!(e.len(), 2);
        assert_eq!(
            select(&e, "a.test", None).unwrap().run,
            "r1",
            "safety runs are not the default"
        );
        assert_eq!(select(&e, "a.test", Some("bbbb")).unwrap().run, "r1");
        assert_eq!(select(&e, "a.test", Some("r2")).unwrap().run, "r2");
        assert!(select(&e, "a.test", Some("dead")).is_err());
    }

    #[test]
    fn a_dump_trailer_is_found_and_kept_out_of_the_checksum() {
        let dump: Vec<u8> = (0..9 * HOLD / 4).map(|i| b"INSERT x;\n"[i % 10]).collect();
        let t = DumpTrailer {
            tables: [("posts".to_owned(), 3)].into(),
            sha256: hex::encode(Sha256::digest(&dump)),
            bytes: dump.len() as u64,
        };
        let mut stream = dump.clone();
        stream.extend(trailer_bytes(&t));
        let mut r = TrailerReader::new();
        for chunk in stream.chunks(256 * 1024 + 7) {
            r.feed(chunk);
        }
        assert_eq!(r.finish(), (t.sha256.clone(), Some(t)));
        // an older dump without a trailer: the checksum covers everything
        let mut r = TrailerReader::new();
        r.feed(&dump);
        assert_eq!(r.finish(), (hex::encode(Sha256::digest(&dump)), None));
    }

    #[test]
    fn prometheus_text() {
        let mut all = BTreeMap::new();
        all.insert(
            "a.test".to_owned(),
            SiteStatus {
                last_success: Some(5),
                last_run_success: true,
                size_bytes: 9,
                ..SiteStatus::default()
            },
        );
        let t = prometheus(&all);
        assert!(
            t.contains("lempctl_backup_last_success_timestamp_seconds{site=\"a.test\"} 5\n"),
            "{t}"
        );
        assert!(t.contains("lempctl_backup_size_bytes{site=\"a.test\"} 9\n"));
        assert!(t.contains("# TYPE lempctl_backup_duration_seconds gauge"));
    }
}
