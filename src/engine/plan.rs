//! Plan = the difference between desired resources and the host. Pure data: `--dry-run` prints it,
//! `apply` executes the very same value, so the dry run lists exactly what the real run does.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::resource::{Affects, Resource};
use super::state::{FileRecord, LinkRecord, SiteRecord, State, sha256};
use crate::config::Config;
use crate::host::service_manager::Service;
use crate::host::{Perms, Root, accounts};

pub(crate) use super::resource::Action;

/// What executing a change does.
#[derive(Debug, Clone)]
pub enum Op {
    /// A log file's existence, owner and mode (`Root::ensure_log`).
    LogFile {
        path: PathBuf,
        perms: Perms,
    },
    Write {
        path: PathBuf,
        contents: Vec<u8>,
        perms: Perms,
    },
    Dir {
        path: PathBuf,
        perms: Perms,
    },
    Link {
        path: PathBuf,
        target: PathBuf,
    },
    CreateUser {
        name: String,
        home: PathBuf,
    },
    Remove {
        path: PathBuf,
    },
    RemoveUser {
        name: String,
    },
    Reload(Service),
    /// A database action, run with the others in one admin session after the files.
    Db(crate::services::mariadb::Action),
    /// Copy WordPress core into a document root.
    CopyCore {
        source: PathBuf,
        sha256: Option<String>,
        dest: PathBuf,
        stage: PathBuf,
        dir_perms: Perms,
        file_perms: Perms,
    },
    /// Install WordPress (after the database actions).
    WpInstall {
        site: String,
    },
    /// A certificate from the ACME CA (`engine::tls`, after the run's files are in place): in
    /// a report only, the engine's execution skips it.
    Certificate,
    /// Archive a site's tree, then delete it (`site remove --purge`).
    Purge {
        site: String,
        dir: PathBuf,
    },
}

/// One step of the plan, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub action: Action,
    pub kind: &'static str,
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(skip)]
    pub op: Op,
}

/// Which removed sites a run deletes the files of.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prune {
    /// Remove every site that is in the state but no longer configured.
    pub all: bool,
    /// Remove these sites (`site remove`).
    pub sites: Vec<String>,
    /// Also archive and delete their data and users.
    pub purge: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
    /// Files lempctl would have to overwrite without owning them (refused unless `--force`).
    pub conflicts: Vec<String>,
    /// Hand-edited managed files whose desired content changed since lempctl wrote them: the
    /// edit is kept, the wanted change is not made, and the run fails (exit 1) saying so.
    pub blocked: Vec<String>,
    /// Sites whose served configuration changes (health-checked after the reload).
    pub sites_changed: BTreeSet<String>,
    pub units: BTreeSet<String>,
    /// State as it will be once the run succeeds.
    pub new_state: State,
    /// Where database actions go, when there are any.
    pub db_target: Option<crate::services::mariadb::AdminTarget>,
}

impl Plan {
    pub(crate) fn reloads(&self) -> impl Iterator<Item = &Service> {
        self.changes.iter().filter_map(|c| {
            if let Op::Reload(s) = &c.op {
                Some(s)
            } else {
                None
            }
        })
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Files only their owner may read hold secrets (wp-config.php): their diffs are never shown.
fn secret_diff(perms: &Perms, path: &Path, old: &[u8], new: &[u8]) -> Option<String> {
    if perms.mode & 0o077 == 0 {
        Some(format!(
            "(contents of {} not shown: it holds secrets)\n",
            path.display()
        ))
    } else {
        Some(diff(path, old, new))
    }
}

fn diff(path: &Path, old: &[u8], new: &[u8]) -> String {
    let (old, new) = (String::from_utf8_lossy(old), String::from_utf8_lossy(new));
    let shown = path.display().to_string();
    similar::TextDiff::from_lines(old.as_ref(), new.as_ref())
        .unified_diff()
        .context_radius(2)
        .header(&shown, &shown)
        .to_string()
}

/// The change of a site file itself (`site put`), reported before the plan's changes: a
/// site file holds no secrets (those live in the state directory), so its diff is shown.
pub(crate) fn site_file_change(path: &Path, old: Option<&str>, new: &str, site: &str) -> Change {
    Change {
        action: if old.is_some() {
            Action::Update
        } else {
            Action::Create
        },
        kind: "file",
        target: path.display().to_string(),
        site: Some(site.to_string()),
        diff: Some(diff(path, old.unwrap_or("").as_bytes(), new.as_bytes())),
        op: Op::Write {
            path: path.to_path_buf(),
            contents: new.as_bytes().to_vec(),
            perms: Perms::root(0o644),
        },
    }
}

fn mode_owner(root: &Root, path: &Path) -> Option<(u32, u32, u32)> {
    std::fs::symlink_metadata(root.path(path))
        .ok()
        .map(|m| (m.mode() & 0o7777, m.uid(), m.gid()))
}

fn perms_differ(root: &Root, path: &Path, perms: &Perms) -> bool {
    let Some((mode, uid, gid)) = mode_owner(root, path) else {
        return true;
    };
    match accounts::resolve(&perms.user, &perms.group) {
        Ok((u, g)) => mode != perms.mode || uid != u || gid != g,
        // The user does not exist yet: it is created by this plan, so the owner changes.
        Err(_) => true,
    }
}

/// Compares `desired` with the host and `state`, producing the plan: each resource against what
/// is on disk (`Planner`'s methods, one per kind), then what is no longer desired, the sites'
/// records, the database's actions and, last, one reload per affected service.
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan(
    root: &Root,
    config: &Config,
    state: &State,
    desired: Vec<Resource>,
    db: Option<super::database::DbObserved>,
    prune: &Prune,
    force: bool,
    in_scope: &dyn Fn(&str) -> bool,
    diffs: bool,
) -> Result<Plan> {
    let mut pl = Planner {
        root,
        config,
        state,
        force,
        diffs,
        p: Plan {
            new_state: state.clone(),
            ..Plan::default()
        },
        affected: BTreeSet::new(),
        desired_files: BTreeSet::new(),
        desired_links: BTreeSet::new(),
        orphans: BTreeSet::new(),
    };
    for r in desired {
        pl.resource(r, db.as_ref())?;
    }
    let configured: BTreeSet<&str> = config.sites.iter().map(|s| s.name.as_str()).collect();
    let removable = |site: &Option<String>| -> bool {
        match site {
            None => true,
            Some(s) if configured.contains(s.as_str()) => in_scope(s),
            Some(s) => prune.all || prune.sites.iter().any(|x| x == s),
        }
    };
    pl.removed_files(&removable)?;
    pl.removed_links(&removable);
    pl.removed_sites(&configured, &removable, prune.purge)?;
    pl.orphan_warnings(&configured);
    pl.record_sites(in_scope);
    pl.database(db);
    Ok(pl.finish())
}

/// The planner's working set while it walks the desired resources and the state.
struct Planner<'a> {
    root: &'a Root,
    config: &'a Config,
    state: &'a State,
    force: bool,
    /// Diffs cost a text comparison per changed file: computed only when they are shown.
    diffs: bool,
    p: Plan,
    /// Services whose files change: reloaded once each, after everything is written.
    affected: BTreeSet<Service>,
    desired_files: BTreeSet<PathBuf>,
    desired_links: BTreeSet<PathBuf>,
    /// Sites whose leftovers stay because they are out of this run's scope.
    orphans: BTreeSet<String>,
}

impl Planner<'_> {
    fn show(&self, d: Option<String>) -> Option<String> {
        if self.diffs { d } else { None }
    }

    /// A changed file of `site` that `affects` a service or unit.
    fn note(&mut self, affects: &Affects, site: Option<&str>) {
        match affects {
            Affects::Service(s) => {
                self.affected.insert(s.clone());
            }
            Affects::Services(all) => self.affected.extend(all.iter().cloned()),
            Affects::Unit(u) => {
                self.p.units.insert(u.clone());
            }
            Affects::Nothing => {}
        }
        if let Some(s) = site {
            self.p.sites_changed.insert(s.to_owned());
        }
    }

    /// A recorded file or link is deleted: the service the state says reads it is reloaded. A
    /// state older than version 2 does not say, so every service in use is reloaded (once).
    fn note_removed(&mut self, service: Option<&Service>, site: Option<&str>) {
        if self.state.version < super::state::VERSION {
            for s in self.config.services() {
                self.note(&Affects::Service(s), None);
            }
        }
        let affects = service.map_or(Affects::Nothing, |s| Affects::Service(s.clone()));
        self.note(&affects, site);
    }

    fn change(
        &mut self,
        action: Action,
        kind: &'static str,
        target: String,
        site: Option<String>,
        op: Op,
    ) {
        self.p.changes.push(Change {
            action,
            kind,
            target,
            site,
            diff: None,
            op,
        });
    }

    fn resource(&mut self, r: Resource, db: Option<&super::database::DbObserved>) -> Result<()> {
        match r {
            Resource::User { name, home, site } => self.user(name, home, site)?,
            Resource::Dir { path, perms, site } => {
                let exists = self.root.path(&path).is_dir();
                self.ensured(
                    exists,
                    "dir",
                    site,
                    &path,
                    &perms,
                    Op::Dir {
                        path: path.clone(),
                        perms: perms.clone(),
                    },
                );
            }
            Resource::LogFile { path, perms, site } => {
                let exists = mode_owner(self.root, &path).is_some();
                self.ensured(
                    exists,
                    "log",
                    site,
                    &path,
                    &perms,
                    Op::LogFile {
                        path: path.clone(),
                        perms: perms.clone(),
                    },
                );
            }
            Resource::WpCore {
                site,
                source,
                sha256,
                dest,
                stage,
                dir_perms,
                file_perms,
            } => {
                let core = Op::CopyCore {
                    source,
                    sha256,
                    dest,
                    stage,
                    dir_perms,
                    file_perms,
                };
                self.wp_core(site, core);
            }
            Resource::WpInstall {
                site,
                database,
                table,
            } => self.wp_install(site, database, table, db),
            Resource::Secret {
                path,
                contents,
                site,
            } => self.secret(path, contents, site)?,
            Resource::Seed {
                path,
                contents,
                perms,
                site,
            } => self.seed(path, contents, perms, site),
            Resource::File {
                path,
                contents,
                perms,
                site,
                affects,
            } => self.file(path, contents, perms, site, &affects)?,
            Resource::Link {
                path,
                target,
                site,
                affects,
            } => self.link(path, target, site, &affects),
        }
        Ok(())
    }

    /// WordPress core is copied into a document root that has none yet.
    fn wp_core(&mut self, site: String, op: Op) {
        let Op::CopyCore { source, dest, .. } = &op else {
            return;
        };
        if self
            .root
            .path(&dest.join("wp-includes/version.php"))
            .is_file()
        {
            return;
        }
        let target = format!("{} (from {})", dest.display(), source.display());
        self.change(Action::Create, "wordpress-core", target, Some(site), op);
    }

    /// WordPress is installed once: when its options table is not in its database yet.
    fn wp_install(
        &mut self,
        site: String,
        database: String,
        table: String,
        db: Option<&super::database::DbObserved>,
    ) {
        if db.is_some_and(|d| d.tables.contains(&(database.clone(), table))) {
            return;
        }
        self.p.sites_changed.insert(site.clone());
        let target = format!("install into {database}");
        let op = Op::WpInstall { site: site.clone() };
        self.change(Action::Create, "wordpress", target, Some(site), op);
    }

    /// A directory or log file that must exist with `perms`: created, or its owner and mode set.
    fn ensured(
        &mut self,
        exists: bool,
        kind: &'static str,
        site: Option<String>,
        path: &Path,
        perms: &Perms,
        op: Op,
    ) {
        if exists && !perms_differ(self.root, path, perms) {
            return;
        }
        let action = if exists {
            Action::Update
        } else {
            Action::Create
        };
        self.change(action, kind, path.display().to_string(), site, op);
    }

    /// A root-only secret file (passwords, salts), rewritten when its content differs.
    fn secret(&mut self, path: PathBuf, contents: Vec<u8>, site: String) -> Result<()> {
        if self.root.read(&path)?.as_deref() == Some(contents.as_slice()) {
            return Ok(());
        }
        let action = if self.root.path(&path).exists() {
            Action::Update
        } else {
            Action::Create
        };
        let target = path.display().to_string();
        let op = Op::Write {
            path,
            contents,
            perms: Perms::root(0o600),
        };
        self.change(action, "secret", target, Some(site), op);
        Ok(())
    }

    /// A first page, written only into an empty document root (never over the site's files).
    fn seed(&mut self, path: PathBuf, contents: Vec<u8>, perms: Perms, site: String) {
        let dir = self.root.path(path.parent().unwrap_or(Path::new("/")));
        let empty = std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true);
        if empty {
            let target = path.display().to_string();
            let op = Op::Write {
                path,
                contents,
                perms,
            };
            self.change(Action::Create, "file", target, Some(site), op);
        }
    }

    fn user(&mut self, name: String, home: PathBuf, site: String) -> Result<()> {
        if !accounts::user_exists(&name)? {
            let op = Op::CreateUser {
                name: name.clone(),
                home,
            };
            self.change(Action::Create, "user", name.clone(), Some(site.clone()), op);
            self.p.new_state.users.insert(name, site);
        } else if !self.state.users.contains_key(&name) && !is_lempctl_user(&name) && !self.force {
            self.p.conflicts.push(format!(
                "user `{name}` exists but was not created by lempctl (use --force to adopt it)"
            ));
        }
        Ok(())
    }

    /// A file lempctl owns: created, updated, adopted when already right, or left alone when
    /// edited by hand (drift; blocked when the configuration wants it changed) or foreign.
    fn file(
        &mut self,
        path: PathBuf,
        contents: Vec<u8>,
        perms: Perms,
        site: Option<String>,
        affects: &Affects,
    ) -> Result<()> {
        self.desired_files.insert(path.clone());
        let record = FileRecord {
            sha256: sha256(&contents),
            pending: None,
            site: site.clone(),
            service: affects.service(),
        };
        let write = |action, diff| Change {
            action,
            kind: "file",
            target: path.display().to_string(),
            site: site.clone(),
            diff,
            op: Op::Write {
                path: path.clone(),
                contents: contents.clone(),
                perms: perms.clone(),
            },
        };
        match self.root.read(&path)? {
            None => {
                self.note(affects, site.as_deref());
                let diff = self.show(secret_diff(&perms, &path, b"", &contents));
                self.p.changes.push(write(Action::Create, diff));
                self.p.new_state.files.insert(path.clone(), record);
            }
            Some(cur) if cur == contents => {
                if perms_differ(self.root, &path, &perms) {
                    self.p.changes.push(write(Action::Update, None));
                }
                self.p.new_state.files.insert(path.clone(), record);
            }
            Some(cur) => {
                let owned = self.state.owns_content(&path, &sha256(&cur));
                if owned || self.force {
                    if !owned {
                        self.p.warnings.push(format!(
                            "{}: overwriting a file lempctl did not write (--force)",
                            path.display()
                        ));
                    }
                    self.note(affects, site.as_deref());
                    let diff = self.show(secret_diff(&perms, &path, &cur, &contents));
                    self.p.changes.push(write(Action::Update, diff));
                    self.p.new_state.files.insert(path.clone(), record);
                } else if let Some(rec) = self.state.files.get(&path) {
                    if rec.sha256 != record.sha256 {
                        self.p.blocked.push(format!(
                            "{}: edited by hand, and the configuration now wants it changed; the change was not made. Either overwrite the edit with `lempctl apply --force`, or move the edit into a template override (or revert it) and apply again",
                            path.display()
                        ));
                    }
                    self.p.warnings.push(format!(
                        "{}: edited by hand since lempctl wrote it (drift); left as it is\n{}hint: move the change into a template override, or use --force to overwrite it",
                        path.display(),
                        indent(&secret_diff(&perms, &path, &contents, &cur).unwrap_or_default())
                    ));
                } else {
                    self.p.conflicts.push(format!(
                        "{}: exists and was not written by lempctl (use --force to overwrite it)",
                        path.display()
                    ));
                }
            }
        }
        Ok(())
    }

    fn link(&mut self, path: PathBuf, target: PathBuf, site: Option<String>, affects: &Affects) {
        self.desired_links.insert(path.clone());
        let real = self.root.path(&path);
        let record = LinkRecord {
            target: target.clone(),
            site: site.clone(),
            service: affects.service(),
        };
        if std::fs::read_link(&real).ok().as_deref() == Some(target.as_path()) {
            self.p.new_state.links.insert(path, record);
            return;
        }
        let exists = real.symlink_metadata().is_ok();
        if exists && !self.state.links.contains_key(&path) && !self.force {
            self.p.conflicts.push(format!(
                "{}: exists and was not created by lempctl (use --force to replace it)",
                path.display()
            ));
            return;
        }
        self.note(affects, site.as_deref());
        let action = if exists {
            Action::Update
        } else {
            Action::Create
        };
        let shown = format!("{} -> {}", path.display(), target.display());
        let op = Op::Link {
            path: path.clone(),
            target: target.clone(),
        };
        self.change(action, "link", shown, site, op);
        self.p.new_state.links.insert(path, record);
    }

    /// Owned files that are no longer desired: deleted unless edited by hand (or out of scope).
    fn removed_files(&mut self, removable: &dyn Fn(&Option<String>) -> bool) -> Result<()> {
        let state = self.state;
        for (path, rec) in &state.files {
            if self.desired_files.contains(path) {
                continue;
            }
            if !removable(&rec.site) {
                if let Some(s) = &rec.site {
                    self.orphans.insert(s.clone());
                }
                continue;
            }
            if let Some(cur) = self.root.read(path)? {
                if !state.owns_content(path, &sha256(&cur)) && !self.force {
                    self.p.warnings.push(format!(
                        "{}: edited by hand since lempctl wrote it; not deleted (use --force)",
                        path.display()
                    ));
                    continue;
                }
                self.note_removed(rec.service.as_ref(), rec.site.as_deref());
                let perms = Perms::root(mode_owner(self.root, path).map_or(0o644, |m| m.0));
                let diff = self.show(secret_diff(&perms, path, &cur, b""));
                self.p.changes.push(Change {
                    action: Action::Delete,
                    kind: "file",
                    target: path.display().to_string(),
                    site: rec.site.clone(),
                    diff,
                    op: Op::Remove { path: path.clone() },
                });
            }
            self.p.new_state.files.remove(path);
        }
        Ok(())
    }

    fn removed_links(&mut self, removable: &dyn Fn(&Option<String>) -> bool) {
        let state = self.state;
        for (path, rec) in &state.links {
            if self.desired_links.contains(path) {
                continue;
            }
            if removable(&rec.site) {
                if self.root.path(path).symlink_metadata().is_ok() {
                    self.note_removed(rec.service.as_ref(), rec.site.as_deref());
                    let op = Op::Remove { path: path.clone() };
                    self.change(
                        Action::Delete,
                        "link",
                        path.display().to_string(),
                        rec.site.clone(),
                        op,
                    );
                }
                self.p.new_state.links.remove(path);
            } else if let Some(s) = &rec.site {
                self.orphans.insert(s.clone());
            }
        }
    }

    /// Removed sites: their records go; data stays unless purged.
    fn removed_sites(
        &mut self,
        configured: &BTreeSet<&str>,
        removable: &dyn Fn(&Option<String>) -> bool,
        purge: bool,
    ) -> Result<()> {
        let state = self.state;
        for (name, rec) in &state.sites {
            if configured.contains(name.as_str()) {
                continue;
            }
            if !removable(&Some(name.clone())) {
                self.orphans.insert(name.clone());
                continue;
            }
            self.p.sites_changed.remove(name);
            if purge {
                self.purge(name, rec)?;
            } else if self.root.path(&rec.site_dir).exists() {
                // purging needs the site file (the final backup reads it): say how to get there
                self.p.warnings.push(format!("site `{name}` removed; its data in {} and user `{}` are kept; to archive and delete them, put its site file back in the sites directory and run `lempctl site remove {name} --purge` (a final backup is taken first)", rec.site_dir.display(), rec.user));
            }
            self.p.new_state.sites.remove(name);
        }
        Ok(())
    }

    fn purge(&mut self, name: &str, rec: &SiteRecord) -> Result<()> {
        if self.root.path(&rec.site_dir).exists() {
            let op = Op::Purge {
                site: name.to_owned(),
                dir: rec.site_dir.clone(),
            };
            let target = rec.site_dir.display().to_string();
            self.change(
                Action::Archive,
                "site-data",
                target,
                Some(name.to_owned()),
                op,
            );
        }
        if self.root.is_host()
            && self.state.users.contains_key(&rec.user)
            && accounts::user_exists(&rec.user)?
        {
            let op = Op::RemoveUser {
                name: rec.user.clone(),
            };
            self.change(
                Action::Delete,
                "user",
                rec.user.clone(),
                Some(name.to_owned()),
                op,
            );
        }
        self.p.new_state.users.remove(&rec.user);
        Ok(())
    }

    fn orphan_warnings(&mut self, configured: &BTreeSet<&str>) {
        for s in std::mem::take(&mut self.orphans) {
            if !configured.contains(s.as_str()) {
                self.p.warnings.push(format!("site `{s}` is no longer in the sites directory; its files stay until `lempctl apply --prune`"));
            }
        }
    }

    /// What the state remembers of each site in scope (and its deprecation notes).
    fn record_sites(&mut self, in_scope: &dyn Fn(&str) -> bool) {
        for site in self
            .config
            .sites
            .iter()
            .filter(|s| in_scope(s.name.as_str()))
        {
            if let Some(php) = &site.php {
                self.p.warnings.extend(php.deprecations.iter().cloned());
            }
            self.p.new_state.sites.insert(
                site.name.to_string(),
                SiteRecord {
                    kind: site.kind.as_str().into(),
                    user: site.user.clone(),
                    site_dir: site.paths.site_dir.clone(),
                    database: site.db.as_ref().map(|d| d.database.clone()),
                    db_user: site.db.as_ref().map(|d| d.user.clone()),
                    file: site.file.file_name().map(PathBuf::from),
                },
            );
        }
    }

    fn database(&mut self, db: Option<super::database::DbObserved>) {
        let Some(super::database::DbObserved {
            target, plan: dbp, ..
        }) = db
        else {
            return;
        };
        for a in &dbp.actions {
            if a.is_drift() {
                self.p.warnings.push(format!("database drift: {a}"));
            }
            let (action, kind, site) = super::database::describe(a);
            self.change(action, kind, a.to_string(), Some(site), Op::Db(a.clone()));
        }
        self.p.warnings.extend(dbp.warnings);
        if !dbp.actions.is_empty() {
            self.p.db_target = Some(target);
        }
    }

    /// How the run acts on an affected service: one of lempctl's own PHP-FPM masters starts
    /// when its main configuration is new and stops when it goes (`apply` decides from what
    /// runs: `Op::Reload` either way); every other service reloads.
    fn service_action(&self, s: &Service) -> Action {
        let Service::PhpFpm(id) = s else {
            return Action::Reload;
        };
        let g = &self.config.global;
        let conf = g.master(&id.version, id.shard).main_conf();
        if !s.is_own_master() {
            Action::Reload
        } else if !self.desired_files.contains(&conf) {
            Action::Stop
        } else if !self.root.path(&conf).exists() {
            Action::Start
        } else {
            Action::Reload
        }
    }

    /// Only services whose files changed are reloaded, once each, after everything is written.
    fn finish(mut self) -> Plan {
        for s in std::mem::take(&mut self.affected) {
            let action = self.service_action(&s);
            self.change(action, "service", s.unit(), None, Op::Reload(s));
        }
        self.p
    }
}

/// A user made by lempctl carries its marker in the GECOS field (shared by sandboxes on one host).
fn is_lempctl_user(name: &str) -> bool {
    accounts::gecos(name)
        .ok()
        .flatten()
        .is_some_and(|g| g.starts_with("lempctl site user"))
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}

/// A configured site whose `kind` differs from the kind it was last applied with, when the change
/// destroys or strands something: files in the site's tree that lempctl wrote for the old kind
/// and would delete (`wp-config.php`), a database the new kind no longer wants, or a document root
/// that WordPress core would be copied over.
#[derive(Debug, Clone)]
pub(crate) struct KindChange {
    pub site: String,
    pub file: PathBuf,
    pub old: String,
    pub new: &'static str,
    pub deleted: Vec<PathBuf>,
    /// `(database, user)` left in MariaDB with nothing using them.
    pub database: Option<(String, String)>,
    /// A non-empty document root WordPress core would be copied into (replacing same-named files).
    pub overwritten: Option<PathBuf>,
}

impl KindChange {
    /// One sentence naming the site, both kinds and what is deleted, left or replaced: what the
    /// change would do (`done` false, refused) or did (`--force`).
    pub(crate) fn describe(&self, done: bool) -> String {
        let verb = |would: &str, did: &str| {
            if done {
                did.to_owned()
            } else {
                would.to_owned()
            }
        };
        let mut what = Vec::new();
        if !self.deleted.is_empty() {
            let files: Vec<String> = self
                .deleted
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            what.push(format!(
                "{} {}",
                verb("delete", "deletes"),
                files.join(", ")
            ));
        }
        if let Some((db, user)) = &self.database {
            what.push(format!(
                "{} database `{db}` and its user `{user}` unused (kept with their data: keep using them with a `db:` section in the site file, or drop them first with `lempctl db drop {}` while the site is still `{}`)",
                verb("leave", "leaves"),
                self.site,
                self.old
            ));
        }
        if let Some(dir) = &self.overwritten {
            what.push(format!(
                "{} WordPress core into {}, which is not empty (files with the names of core files, such as index.php, are replaced)",
                verb("copy", "copies"),
                dir.display()
            ));
        }
        format!(
            "site `{}`: changing its kind from `{}` to `{}` {}{}",
            self.site,
            self.old,
            self.new,
            if done { "(--force) " } else { "would " },
            what.join("; ")
        )
    }
}

/// The destructive kind changes among the sites in scope (`desired_files`: every file the new
/// configuration renders).
pub(crate) fn kind_changes(
    root: &Root,
    config: &Config,
    state: &State,
    desired_files: &BTreeSet<PathBuf>,
    in_scope: &dyn Fn(&str) -> bool,
) -> Vec<KindChange> {
    let mut out = Vec::new();
    for site in &config.sites {
        let name = site.name.as_str();
        let Some(rec) = state.sites.get(name) else {
            continue;
        };
        if !in_scope(name) || rec.kind == site.kind.as_str() {
            continue;
        }
        let deleted: Vec<PathBuf> = state
            .files
            .iter()
            .filter(|(path, f)| {
                f.site.as_deref() == Some(name)
                    && path.starts_with(&rec.site_dir)
                    && !desired_files.contains(*path)
                    && root.path(path).symlink_metadata().is_ok()
            })
            .map(|(path, _)| path.clone())
            .collect();
        let database = match (&rec.database, &rec.db_user) {
            (Some(db), Some(user))
                if site
                    .db
                    .as_ref()
                    .is_none_or(|d| &d.database != db || &d.user != user) =>
            {
                Some((db.clone(), user.clone()))
            }
            _ => None,
        };
        let docroot = &site.paths.document_root;
        let overwritten = (site.kind == crate::config::SiteKind::Wordpress
            && !root
                .path(&docroot.join("wp-includes/version.php"))
                .is_file()
            && std::fs::read_dir(root.path(docroot)).is_ok_and(|mut d| d.next().is_some()))
        .then(|| docroot.clone());
        if !deleted.is_empty() || database.is_some() || overwritten.is_some() {
            out.push(KindChange {
                site: name.to_owned(),
                file: site.file.clone(),
                old: rec.kind.clone(),
                new: site.kind.as_str(),
                deleted,
                database,
                overwritten,
            });
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the disk the planner observes is arranged directly
mod tests {
    use super::*;
    use crate::engine::resource::Affects;
    use crate::engine::state::{FileRecord, sha256};

    const PATH: &str = "/etc/nginx/sites-available/a.test.conf";

    fn config() -> Config {
        let mut errors = Vec::new();
        let global = crate::config::global::validate(
            Path::new("/etc/lempctl/lempctl.yaml"),
            crate::config::file::GlobalFile::default(),
            &mut errors,
        );
        assert!(errors.is_empty());
        Config {
            global,
            sites: Vec::new(),
            broken: Vec::new(),
        }
    }

    fn file(contents: &str) -> Resource {
        Resource::File {
            path: PathBuf::from(PATH),
            contents: contents.as_bytes().to_vec(),
            perms: Perms::root(0o644),
            site: Some("a.test".into()),
            affects: Affects::Nothing,
        }
    }

    /// `on_disk`: the file's content (absent when `None`); `recorded`: what the state says lempctl
    /// wrote (`Some((hash of, pending))`).
    fn case(
        on_disk: Option<&str>,
        recorded: Option<(&str, bool)>,
        desired: Vec<Resource>,
        force: bool,
        prune: Prune,
    ) -> Plan {
        case_with(on_disk, recorded, desired, force, prune, &|_| {})
    }

    /// `case`, with the recorded state changed by `tweak` first.
    fn case_with(
        on_disk: Option<&str>,
        recorded: Option<(&str, bool)>,
        desired: Vec<Resource>,
        force: bool,
        prune: Prune,
        tweak: &dyn Fn(&mut State),
    ) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        if let Some(text) = on_disk {
            let p = root.path(Path::new(PATH));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .unwrap();
        }
        let mut state = State::default();
        if let Some((text, pending)) = recorded {
            let hash = sha256(text.as_bytes());
            state.files.insert(
                PathBuf::from(PATH),
                FileRecord {
                    sha256: if pending {
                        "older".into()
                    } else {
                        hash.clone()
                    },
                    pending: pending.then_some(hash),
                    site: Some("a.test".into()),
                    service: None,
                },
            );
        }
        state.version = crate::engine::state::VERSION;
        tweak(&mut state);
        plan(
            &root,
            &config(),
            &state,
            desired,
            None,
            &prune,
            force,
            &|_| true,
            true,
        )
        .unwrap()
    }

    fn writes(p: &Plan) -> usize {
        p.changes
            .iter()
            .filter(|c| matches!(c.op, Op::Write { .. }))
            .count()
    }

    #[test]
    fn the_planner_compares_desire_disk_and_state() {
        // unchanged: nothing to do, no warning
        let p = case(
            Some("A"),
            Some(("A", false)),
            vec![file("A")],
            false,
            Prune::default(),
        );
        assert!(
            p.changes.is_empty() && p.warnings.is_empty(),
            "{:?}",
            p.changes
        );
        // new: one create
        let p = case(None, None, vec![file("A")], false, Prune::default());
        assert_eq!((writes(&p), p.changes[0].action), (1, Action::Create));
        // lempctl's own file, new content wanted: an update with a diff
        let p = case(
            Some("A"),
            Some(("A", false)),
            vec![file("B")],
            false,
            Prune::default(),
        );
        assert_eq!((writes(&p), p.changes[0].action), (1, Action::Update));
        assert!(
            p.changes[0]
                .diff
                .as_deref()
                .is_some_and(|d| d.contains("+B"))
        );
        // drift alone: kept, warned, nothing blocked
        let p = case(
            Some("hand"),
            Some(("A", false)),
            vec![file("A")],
            false,
            Prune::default(),
        );
        assert_eq!(writes(&p), 0);
        assert!(p.warnings[0].contains("drift") && p.blocked.is_empty());
        // drift that blocks a wanted change
        let p = case(
            Some("hand"),
            Some(("A", false)),
            vec![file("B")],
            false,
            Prune::default(),
        );
        assert_eq!((writes(&p), p.blocked.len()), (0, 1));
        // forced: overwritten, said so
        let p = case(Some("hand"), None, vec![file("A")], true, Prune::default());
        assert_eq!(writes(&p), 1);
        assert!(p.warnings[0].contains("--force"));
        // a foreign file in the way: a conflict
        let p = case(
            Some("theirs"),
            None,
            vec![file("A")],
            false,
            Prune::default(),
        );
        assert_eq!((writes(&p), p.conflicts.len()), (0, 1));
        // a crashed run's file (recorded as pending): recognised, adopted, no drift
        let p = case(
            Some("A"),
            Some(("A", true)),
            vec![file("A")],
            false,
            Prune::default(),
        );
        assert!(
            p.changes.is_empty() && p.warnings.is_empty(),
            "{:?}",
            p.warnings
        );
        assert_eq!(p.new_state.files[Path::new(PATH)].sha256, sha256(b"A"));
        // no longer desired: removed when its site is pruned
        let prune = Prune {
            all: true,
            ..Prune::default()
        };
        let p = case(Some("A"), Some(("A", false)), vec![], false, prune);
        assert!(
            p.changes
                .iter()
                .any(|c| matches!(&c.op, Op::Remove { path } if path == Path::new(PATH)))
        );
    }

    fn reloads(p: &Plan) -> Vec<String> {
        p.changes
            .iter()
            .filter_map(|c| match &c.op {
                Op::Reload(s) => Some(s.unit()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_deleted_file_reloads_the_service_its_record_names() {
        let prune = || Prune {
            all: true,
            ..Prune::default()
        };
        let v74 = crate::config::global::PhpVersion::parse("7.4").unwrap();
        // the record decides, not where the file is (PATH is under nginx's directory)
        let p = case_with(
            Some("A"),
            Some(("A", false)),
            vec![],
            false,
            prune(),
            &|s| {
                s.files.get_mut(Path::new(PATH)).unwrap().service = Some(Service::PhpFpm(
                    crate::host::machine::FpmId::main(v74.clone()),
                ));
            },
        );
        assert_eq!(reloads(&p), ["php7.4-fpm"]);
        // a file no service reads: nothing reloaded
        let p = case(Some("A"), Some(("A", false)), vec![], false, prune());
        assert!(reloads(&p).is_empty(), "{:?}", reloads(&p));
        // a state from before services were recorded: every service in use, once
        let p = case_with(
            Some("A"),
            Some(("A", false)),
            vec![],
            false,
            prune(),
            &|s| {
                s.version = 1;
            },
        );
        assert_eq!(reloads(&p), ["nginx", "php8.2-fpm"]);
        // what is written records its service
        let mut f = file("A");
        if let Resource::File { affects, .. } = &mut f {
            *affects = Affects::Service(Service::Nginx);
        }
        let p = case(None, None, vec![f], false, Prune::default());
        assert_eq!(
            p.new_state.files[Path::new(PATH)].service,
            Some(Service::Nginx)
        );
    }
}
