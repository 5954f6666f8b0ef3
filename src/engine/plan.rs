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

pub use super::resource::Action;

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
pub struct Prune {
    /// Remove every site that is in the state but no longer configured.
    pub all: bool,
    /// Remove these sites (`site remove`).
    pub sites: Vec<String>,
    /// Also archive and delete their data and users.
    pub purge: bool,
}

#[derive(Debug, Default)]
pub struct Plan {
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
    pub fn reloads(&self) -> impl Iterator<Item = &Service> {
        self.changes.iter().filter_map(|c| {
            if let Op::Reload(s) = &c.op {
                Some(s)
            } else {
                None
            }
        })
    }
    pub fn is_empty(&self) -> bool {
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

/// Compares `desired` with the host and `state`, producing the plan.
#[allow(clippy::too_many_arguments)]
pub fn plan(
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
    // Diffs cost a text comparison per changed file: computed only when they are shown.
    let show = |d: Option<String>| if diffs { d } else { None };
    let mut p = Plan {
        new_state: state.clone(),
        ..Plan::default()
    };
    let mut affected: BTreeSet<Service> = BTreeSet::new();
    let mut desired_files: BTreeSet<PathBuf> = BTreeSet::new();
    let mut desired_links: BTreeSet<PathBuf> = BTreeSet::new();
    let mut note = |p: &mut Plan, affects: &Affects, site: Option<&str>| {
        match affects {
            Affects::Service(s) => {
                affected.insert(s.clone());
            }
            Affects::Unit(u) => {
                p.units.insert(u.clone());
            }
            Affects::Nothing => {}
        }
        if let Some(s) = site {
            p.sites_changed.insert(s.to_owned());
        }
    };
    for r in desired {
        match r {
            Resource::User { name, home, site } => {
                if !accounts::user_exists(&name)? {
                    p.changes.push(Change {
                        action: Action::Create,
                        kind: "user",
                        target: name.clone(),
                        site: Some(site.clone()),
                        diff: None,
                        op: Op::CreateUser {
                            name: name.clone(),
                            home,
                        },
                    });
                    p.new_state.users.insert(name, site);
                } else if !state.users.contains_key(&name) && !is_lempctl_user(&name) && !force {
                    p.conflicts.push(format!("user `{name}` exists but was not created by lempctl (use --force to adopt it)"));
                }
            }
            Resource::Dir { path, perms, site } => {
                let exists = root.path(&path).is_dir();
                if !exists || perms_differ(root, &path, &perms) {
                    let action = if exists {
                        Action::Update
                    } else {
                        Action::Create
                    };
                    p.changes.push(Change {
                        action,
                        kind: "dir",
                        target: path.display().to_string(),
                        site,
                        diff: None,
                        op: Op::Dir { path, perms },
                    });
                }
            }
            Resource::LogFile { path, perms, site } => {
                let exists = mode_owner(root, &path).is_some();
                if !exists || perms_differ(root, &path, &perms) {
                    p.changes.push(Change {
                        action: if exists {
                            Action::Update
                        } else {
                            Action::Create
                        },
                        kind: "log",
                        target: path.display().to_string(),
                        site,
                        diff: None,
                        op: Op::LogFile { path, perms },
                    });
                }
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
                if !root.path(&dest.join("wp-includes/version.php")).is_file() {
                    p.changes.push(Change {
                        action: Action::Create,
                        kind: "wordpress-core",
                        target: format!("{} (from {})", dest.display(), source.display()),
                        site: Some(site),
                        diff: None,
                        op: Op::CopyCore {
                            source,
                            sha256,
                            dest,
                            stage,
                            dir_perms,
                            file_perms,
                        },
                    });
                }
            }
            Resource::WpInstall {
                site,
                database,
                table,
            } => {
                let installed = db
                    .as_ref()
                    .is_some_and(|d| d.tables.contains(&(database.clone(), table.clone())));
                if !installed {
                    p.sites_changed.insert(site.clone());
                    p.changes.push(Change {
                        action: Action::Create,
                        kind: "wordpress",
                        target: format!("install into {database}"),
                        site: Some(site.clone()),
                        diff: None,
                        op: Op::WpInstall { site },
                    });
                }
            }
            Resource::Secret {
                path,
                contents,
                site,
            } => {
                if root.read(&path)?.as_deref() != Some(contents.as_slice()) {
                    let action = if root.path(&path).exists() {
                        Action::Update
                    } else {
                        Action::Create
                    };
                    p.changes.push(Change {
                        action,
                        kind: "secret",
                        target: path.display().to_string(),
                        site: Some(site),
                        diff: None,
                        op: Op::Write {
                            path,
                            contents,
                            perms: Perms::root(0o600),
                        },
                    });
                }
            }
            Resource::Seed {
                path,
                contents,
                perms,
                site,
            } => {
                let dir = root.path(path.parent().unwrap_or(Path::new("/")));
                let empty = std::fs::read_dir(&dir)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(true);
                if empty {
                    p.changes.push(Change {
                        action: Action::Create,
                        kind: "file",
                        target: path.display().to_string(),
                        site: Some(site),
                        diff: None,
                        op: Op::Write {
                            path,
                            contents,
                            perms,
                        },
                    });
                }
            }
            Resource::File {
                path,
                contents,
                perms,
                site,
                affects,
            } => {
                desired_files.insert(path.clone());
                let hash = sha256(&contents);
                let record = FileRecord {
                    sha256: hash.clone(),
                    pending: None,
                    site: site.clone(),
                };
                let current = root.read(&path)?;
                match current {
                    None => {
                        note(&mut p, &affects, site.as_deref());
                        p.changes.push(Change {
                            action: Action::Create,
                            kind: "file",
                            target: path.display().to_string(),
                            site,
                            diff: show(secret_diff(&perms, &path, b"", &contents)),
                            op: Op::Write {
                                path: path.clone(),
                                contents,
                                perms,
                            },
                        });
                        p.new_state.files.insert(path, record);
                    }
                    Some(cur) if cur == contents => {
                        if perms_differ(root, &path, &perms) {
                            p.changes.push(Change {
                                action: Action::Update,
                                kind: "file",
                                target: path.display().to_string(),
                                site,
                                diff: None,
                                op: Op::Write {
                                    path: path.clone(),
                                    contents,
                                    perms,
                                },
                            });
                        }
                        p.new_state.files.insert(path, record);
                    }
                    Some(cur) => {
                        let cur_hash = sha256(&cur);
                        let owned = state.owns_content(&path, &cur_hash);
                        if owned || force {
                            if !owned {
                                p.warnings.push(format!(
                                    "{}: overwriting a file lempctl did not write (--force)",
                                    path.display()
                                ));
                            }
                            note(&mut p, &affects, site.as_deref());
                            p.changes.push(Change {
                                action: Action::Update,
                                kind: "file",
                                target: path.display().to_string(),
                                site,
                                diff: show(secret_diff(&perms, &path, &cur, &contents)),
                                op: Op::Write {
                                    path: path.clone(),
                                    contents,
                                    perms,
                                },
                            });
                            p.new_state.files.insert(path, record);
                        } else if let Some(rec) = state.files.get(&path) {
                            if rec.sha256 != record.sha256 {
                                p.blocked.push(format!(
                                    "{}: edited by hand, and the configuration now wants it changed; the change was not made. Either overwrite the edit with `lempctl apply --force`, or move the edit into a template override (or revert it) and apply again",
                                    path.display()
                                ));
                            }
                            p.warnings.push(format!(
                                "{}: edited by hand since lempctl wrote it (drift); left as it is\n{}hint: move the change into a template override, or use --force to overwrite it",
                                path.display(),
                                indent(&secret_diff(&perms, &path, &contents, &cur).unwrap_or_default())
                            ));
                        } else {
                            p.conflicts.push(format!("{}: exists and was not written by lempctl (use --force to overwrite it)", path.display()));
                        }
                    }
                }
            }
            Resource::Link {
                path,
                target,
                site,
                affects,
            } => {
                desired_links.insert(path.clone());
                let real = root.path(&path);
                let current = std::fs::read_link(&real).ok();
                if current.as_deref() == Some(target.as_path()) {
                    p.new_state.links.insert(path, LinkRecord { target, site });
                    continue;
                }
                let exists = real.symlink_metadata().is_ok();
                if exists && !state.links.contains_key(&path) && !force {
                    p.conflicts.push(format!(
                        "{}: exists and was not created by lempctl (use --force to replace it)",
                        path.display()
                    ));
                    continue;
                }
                note(&mut p, &affects, site.as_deref());
                let action = if exists {
                    Action::Update
                } else {
                    Action::Create
                };
                p.changes.push(Change {
                    action,
                    kind: "link",
                    target: format!("{} -> {}", path.display(), target.display()),
                    site: site.clone(),
                    diff: None,
                    op: Op::Link {
                        path: path.clone(),
                        target: target.clone(),
                    },
                });
                p.new_state.links.insert(path, LinkRecord { target, site });
            }
        }
    }
    // Owned files and links that are no longer desired.
    let configured: BTreeSet<&str> = config.sites.iter().map(|s| s.name.as_str()).collect();
    let removable = |site: &Option<String>| -> Option<bool> {
        match site {
            None => Some(true),
            Some(s) if configured.contains(s.as_str()) => Some(in_scope(s)),
            Some(s) => Some(prune.all || prune.sites.iter().any(|x| x == s))
                .filter(|b| *b)
                .or(Some(false)),
        }
    };
    let mut orphans: BTreeSet<String> = BTreeSet::new();
    for (path, rec) in &state.files {
        if desired_files.contains(path) {
            continue;
        }
        match removable(&rec.site) {
            Some(true) => {
                let current = root.read(path)?;
                let affects = classify(config, path);
                if let Some(cur) = current {
                    if !state.owns_content(path, &sha256(&cur)) && !force {
                        p.warnings.push(format!(
                            "{}: edited by hand since lempctl wrote it; not deleted (use --force)",
                            path.display()
                        ));
                        continue;
                    }
                    note(&mut p, &affects, rec.site.as_deref());
                    p.changes.push(Change {
                        action: Action::Delete,
                        kind: "file",
                        target: path.display().to_string(),
                        site: rec.site.clone(),
                        diff: show(secret_diff(
                            &Perms::root(mode_owner(root, path).map_or(0o644, |m| m.0)),
                            path,
                            &cur,
                            b"",
                        )),
                        op: Op::Remove { path: path.clone() },
                    });
                }
                p.new_state.files.remove(path);
            }
            _ => {
                if let Some(s) = &rec.site {
                    orphans.insert(s.clone());
                }
            }
        }
    }
    for (path, rec) in &state.links {
        if desired_links.contains(path) {
            continue;
        }
        if removable(&rec.site) == Some(true) {
            if root.path(path).symlink_metadata().is_ok() {
                note(&mut p, &classify(config, path), rec.site.as_deref());
                p.changes.push(Change {
                    action: Action::Delete,
                    kind: "link",
                    target: path.display().to_string(),
                    site: rec.site.clone(),
                    diff: None,
                    op: Op::Remove { path: path.clone() },
                });
            }
            p.new_state.links.remove(path);
        } else if let Some(s) = &rec.site {
            orphans.insert(s.clone());
        }
    }
    // Removed sites: their records go; data stays unless purged.
    for (name, rec) in &state.sites {
        if configured.contains(name.as_str()) {
            continue;
        }
        if removable(&Some(name.clone())) == Some(true) {
            p.sites_changed.remove(name);
            if prune.purge {
                if root.path(&rec.site_dir).exists() {
                    p.changes.push(Change {
                        action: Action::Archive,
                        kind: "site-data",
                        target: rec.site_dir.display().to_string(),
                        site: Some(name.clone()),
                        diff: None,
                        op: Op::Purge {
                            site: name.clone(),
                            dir: rec.site_dir.clone(),
                        },
                    });
                }
                if root.is_host()
                    && state.users.contains_key(&rec.user)
                    && accounts::user_exists(&rec.user)?
                {
                    p.changes.push(Change {
                        action: Action::Delete,
                        kind: "user",
                        target: rec.user.clone(),
                        site: Some(name.clone()),
                        diff: None,
                        op: Op::RemoveUser {
                            name: rec.user.clone(),
                        },
                    });
                }
                p.new_state.users.remove(&rec.user);
            } else if root.path(&rec.site_dir).exists() {
                // purging needs the site file (the final backup reads it): say how to get there
                p.warnings.push(format!("site `{name}` removed; its data in {} and user `{}` are kept; to archive and delete them, put its site file back in the sites directory and run `lempctl site remove {name} --purge` (a final backup is taken first)", rec.site_dir.display(), rec.user));
            }
            p.new_state.sites.remove(name);
        } else {
            orphans.insert(name.clone());
        }
    }
    for s in orphans {
        if !configured.contains(s.as_str()) {
            p.warnings.push(format!("site `{s}` is no longer in the sites directory; its files stay until `lempctl apply --prune`"));
        }
    }
    for site in &config.sites {
        if in_scope(site.name.as_str()) {
            if let Some(php) = &site.php {
                p.warnings.extend(php.deprecations.iter().cloned());
            }
            p.new_state.sites.insert(
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
    if let Some(super::database::DbObserved {
        target, plan: dbp, ..
    }) = db
    {
        for a in &dbp.actions {
            if a.is_drift() {
                p.warnings.push(format!("database drift: {a}"));
            }
            let (action, kind, site) = super::database::describe(a);
            p.changes.push(Change {
                action,
                kind,
                target: a.to_string(),
                site: Some(site),
                diff: None,
                op: Op::Db(a.clone()),
            });
        }
        p.warnings.extend(dbp.warnings);
        if !dbp.actions.is_empty() {
            p.db_target = Some(target);
        }
    }
    // Only services whose files changed are reloaded, once each, after everything is written.
    for s in affected {
        p.changes.push(Change {
            action: Action::Reload,
            kind: "service",
            target: s.unit(),
            site: None,
            diff: None,
            op: Op::Reload(s),
        });
    }
    Ok(p)
}

/// Which service a managed path belongs to (for files being deleted).
pub fn classify(config: &Config, path: &Path) -> Affects {
    let g = &config.global;
    if path.starts_with(&g.paths.nginx_dir) {
        return Affects::Service(Service::Nginx);
    }
    if let Ok(rest) = path.strip_prefix(&g.paths.php_dir)
        && let Some(v) = rest.components().next()
    {
        return Affects::Service(Service::PhpFpm(
            v.as_os_str().to_string_lossy().into_owned(),
        ));
    }
    if path.starts_with(&g.paths.systemd_dir) {
        return Affects::Nothing;
    }
    Affects::Nothing
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
pub struct KindChange {
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
    pub fn describe(&self, done: bool) -> String {
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
pub fn kind_changes(
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
                },
            );
        }
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
}
