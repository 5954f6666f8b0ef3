//! The one code path that changes the system (design §4):
//! `load → desire → observe → plan → apply → report`.

pub(crate) mod apply;
pub(crate) mod backup;
pub(crate) mod cert_monitor;
pub(crate) mod clone;
pub(crate) mod database;
pub(crate) mod desire;
pub(crate) mod drift;
pub(crate) mod health;
pub(crate) mod jobs;
pub(crate) mod lock;
pub(crate) mod permissions;
pub(crate) mod plan;
pub(crate) mod preflight;
pub(crate) mod reloads;
pub(crate) mod repo_files;
pub(crate) mod repo_key;
pub(crate) mod repo_lock;
pub(crate) mod report;
pub(crate) mod resource;
pub(crate) mod schedule;
pub(crate) mod secrets;
pub(crate) mod state;
pub(crate) mod tls;
pub(crate) mod wordpress;

use std::time::Duration;

use anyhow::Result;

pub(crate) use desire::Scope;
pub(crate) use plan::Prune;
pub(crate) use preflight::check_php_installed;

use crate::config::Config;
use crate::engine::report::Report;
use crate::host::Root;

/// How one run behaves.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunOptions {
    pub scope: Scope,
    pub prune: Prune,
    pub force: bool,
    pub dry_run: bool,
    /// How long to wait for another run's lock.
    pub wait: Duration,
    /// Health-check changed sites after the reload (on by default).
    pub skip_health: bool,
    /// Compute unified diffs for the report (always with `dry_run`).
    pub diffs: bool,
    /// Databases to drop (after a dump when `dump_to` is set): `db drop`.
    pub retire: Vec<crate::services::mariadb::Retire>,
}

/// Refused because lempctl would overwrite files it does not own.
#[derive(Debug, thiserror::Error)]
#[error("refusing to overwrite what lempctl does not own; nothing was changed\n  {}\n\nhint: move the files away, or run again with --force", .0.join("\n  "))]
pub(crate) struct ConflictError(pub Vec<String>);

/// Refused because a site's new `kind` would delete files or strand a database (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{}\nnothing was changed\n\nhint: put the old `kind` back in the site file, or run again with --force to change it anyway (`apply --dry-run --force` lists every change first)", .0.iter().map(|k| format!("{}: {}", k.file.display(), k.describe(false))).collect::<Vec<_>>().join("\n"))]
pub(crate) struct KindChangeError(pub Vec<plan::KindChange>);

/// Converges the host to `config` and reports what changed.
pub(crate) fn run(root: &Root, config: &Config, opts: &RunOptions) -> Result<Report> {
    check_php_installed(config, &opts.scope)?;
    // ACME sites serve HTTP (and the challenge) until their certificate exists
    let serving = tls::serving(root, config);
    let config = &serving;
    let g = &config.global;
    // With a site file set aside as invalid, only named sites converge: a run over everything
    // or a prune of what is not configured would take its site for removed.
    if let Some(errors) = config.broken_errors()
        && (matches!(opts.scope, Scope::All) || opts.prune.all)
    {
        return Err(errors.into());
    }
    let _lock = if opts.dry_run {
        None
    } else {
        Some(lock::acquire(&root.path(&g.paths.lock_file()), opts.wait)?)
    };
    let state = state::State::load(root, &g.paths.state_file())?;
    let desired = desire::desire(root, config, &opts.scope)?;
    let scope = opts.scope.clone();
    // Databases of purged sites go too, after a dump into the archive.
    let retired = retired_databases(root, config, &state, opts);
    // Sites applied before with another kind (rare): what the change would delete or strand.
    let kinds = kind_changes(root, config, &state, &desired, &scope);
    if !kinds.is_empty() && !opts.force {
        return Err(KindChangeError(kinds).into());
    }
    let db = database::plan(root, g, &desired.db_specs, &retired, &desired.wp_tables)?;
    let mut plan = plan::plan(
        root,
        config,
        &state,
        desired.resources,
        db,
        &opts.prune,
        opts.force,
        &|s| scope.includes(s),
        opts.diffs || opts.dry_run,
    )?;
    if !config.broken.is_empty() {
        hold_back_host_wide(&mut plan, &state, config, &scope);
    }
    // A set-aside site is not a removed one.
    plan.warnings.retain(|w| {
        !config.broken.iter().any(|b| {
            b.names
                .iter()
                .any(|n| w.starts_with(&format!("site `{n}` is no longer in the sites directory")))
        })
    });
    if !plan.conflicts.is_empty() {
        return Err(ConflictError(plan.conflicts).into());
    }
    let mut warnings: Vec<String> = kinds.iter().map(|k| k.describe(true)).collect();
    warnings.extend(plan.warnings.iter().cloned());
    let mut report = Report {
        changed: !plan.is_empty(),
        warnings,
        dry_run: opts.dry_run,
        error: blocked_error(&plan.blocked),
        ..Report::default()
    };
    if opts.dry_run {
        report.changes = plan.changes;
        return Ok(report);
    }
    if plan.is_empty() {
        // Nothing to write; keep the state in step (records of files found already correct).
        if plan.new_state != state {
            plan.new_state.save(root, &g.paths.state_file())?;
        }
        return Ok(report);
    }
    let changes = plan.changes.clone();
    let blocked = plan.blocked.clone();
    let outcome = apply::execute(root, config, &state, plan, !opts.skip_health)?;
    report.changes = changes;
    report.warnings.extend(outcome.warnings);
    report.secrets_shown_once = outcome.secrets_shown_once;
    report.error = blocked_error(&blocked);
    Ok(report)
}

/// The databases of sites this run purges (with `--purge`), each dumped into the archive first.
/// On a shared server every site this run removes retires its accounts here, purged or not, and
/// its database stays (no dump: nothing is dropped).
fn retired_databases(
    root: &Root,
    config: &Config,
    state: &state::State,
    opts: &RunOptions,
) -> Vec<crate::services::mariadb::Retire> {
    let mut retired = opts.retire.clone();
    let shared = config.global.database.shared;
    if !opts.prune.purge && !shared {
        return retired;
    }
    for (name, rec) in &state.sites {
        let removed = config.sites.iter().all(|s| s.name.as_str() != name);
        let selected = opts.prune.all || opts.prune.sites.iter().any(|s| s == name);
        if let (true, true, Some(db), Some(user)) = (removed, selected, &rec.database, &rec.db_user)
        {
            let dump = database::archive_dump_path(&config.global, name, db);
            retired.push(crate::services::mariadb::Retire {
                site: name.clone(),
                database: db.clone(),
                user: user.clone(),
                dump_to: (!shared).then(|| root.path(&dump)),
            });
        }
    }
    retired
}

/// Sites applied before with another kind whose change would delete or strand something.
fn kind_changes(
    root: &Root,
    config: &Config,
    state: &state::State,
    desired: &desire::Desired,
    scope: &Scope,
) -> Vec<plan::KindChange> {
    let kind_changed = config.sites.iter().any(|s| {
        state
            .sites
            .get(s.name.as_str())
            .is_some_and(|r| r.kind != s.kind.as_str())
    });
    if !kind_changed {
        return Vec::new();
    }
    let desired_files: std::collections::BTreeSet<std::path::PathBuf> = desired
        .resources
        .iter()
        .filter_map(|r| match r {
            resource::Resource::File { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect();
    plan::kind_changes(root, config, state, &desired_files, &|s| scope.includes(s))
}

/// A run that did everything else but left wanted changes undone because of hand edits fails
/// (exit 1): a timer's `apply -q` must not report success while the host differs from its files.
fn blocked_error(blocked: &[String]) -> Option<crate::engine::report::ErrorReport> {
    (!blocked.is_empty()).then(|| crate::engine::report::ErrorReport {
        message: format!(
            "{} wanted change(s) blocked by hand edits:\n  {}",
            blocked.len(),
            blocked.join("\n  ")
        ),
        kind: "failure",
        exit_code: 1,
    })
}

/// With a site file set aside as invalid, the host-wide files that list every site (the
/// schedule of per-site jobs, opcache sizing, nginx's file limit) would be rendered without its
/// site: its timers would stop. Such files are only created, never updated or deleted, and keep
/// their state records; a per-site timer drop-in of a site in scope still changes.
fn hold_back_host_wide(
    plan: &mut plan::Plan,
    state: &state::State,
    config: &Config,
    scope: &Scope,
) {
    use plan::{Action, Op};
    let own_instance = |path: &std::path::Path| {
        let p = path.to_string_lossy();
        config
            .sites
            .iter()
            .filter(|s| scope.includes(s.name.as_str()))
            .any(|s| p.contains(&format!("@{}.timer.d/", s.name)))
    };
    let mut held = Vec::new();
    plan.changes.retain(|c| {
        if c.site.is_some() || c.action == Action::Create {
            return true;
        }
        let path = match &c.op {
            Op::Write { path, .. }
            | Op::Dir { path, .. }
            | Op::Link { path, .. }
            | Op::LogFile { path, .. }
            | Op::Remove { path } => path,
            _ => return true,
        };
        if own_instance(path) {
            return true;
        }
        held.push(path.clone());
        false
    });
    if held.is_empty() {
        return;
    }
    // Reloads asked for by held-back files alone are not needed.
    if plan.changes.iter().all(|c| matches!(c.op, Op::Reload(_))) {
        plan.changes.clear();
    }
    for path in &held {
        match state.files.get(path) {
            Some(r) => {
                plan.new_state.files.insert(path.clone(), r.clone());
            }
            None => {
                plan.new_state.files.remove(path);
            }
        }
        match state.links.get(path) {
            Some(r) => {
                plan.new_state.links.insert(path.clone(), r.clone());
            }
            None => {
                plan.new_state.links.remove(path);
            }
        }
    }
    let files: Vec<String> = config
        .broken
        .iter()
        .map(|b| b.file.display().to_string())
        .collect();
    plan.warnings.push(format!(
        "host-wide files left as they are while {} is invalid (run `lempctl apply` once it is fixed): {}",
        files.join(", "),
        held.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
}
