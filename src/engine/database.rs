//! The engine's side of MariaDB: the admin connection from the configuration, observing and
//! planning site databases (a constant number of queries per run), executing the actions, and
//! undoing what a failed run created.

use std::path::PathBuf;

use anyhow::Result;

use crate::config::global::{DbAdmin, Global};
use crate::host::Root;
use crate::services::mariadb::{self, Action, Admin, AdminTarget, DbSpec, Retire, Secret};

/// A current-thread runtime for the database client (the rest of lempctl is synchronous).
pub(crate) use crate::services::runtime;

/// Runs `work` on an admin connection opened for it and closed after it. A failed disconnect after
/// the work is ignored: the work is done.
pub(crate) fn with_admin<T>(
    target: &AdminTarget,
    work: impl AsyncFnOnce(&mut Admin) -> Result<T, mariadb::DbError>,
) -> Result<T> {
    runtime()?.block_on(async {
        let mut admin = Admin::connect(target).await?;
        let r = work(&mut admin).await;
        let _ = admin.disconnect().await;
        Ok(r?)
    })
}

/// Where the admin connection goes, with credentials read now (never from argv).
pub(crate) fn admin_target(root: &Root, g: &Global) -> Result<AdminTarget> {
    Ok(match &g.database.admin {
        DbAdmin::Socket(p) => AdminTarget::Socket { path: root.path(p) },
        DbAdmin::Tcp {
            host,
            port,
            credentials_file,
            tls,
        } => {
            let creds = mariadb::read_admin_credentials(&root.path(credentials_file))?;
            AdminTarget::Tcp {
                host: host.clone(),
                port: *port,
                user: creds.user,
                password: creds.password,
                tls: tls.as_ref().map(|t| mariadb::Tls {
                    ca_file: t.ca_file.as_ref().map(|c| root.path(c)),
                    verify: t.verify,
                }),
            }
        }
    })
}

/// What the database server holds for a run: the plan for site databases, and which of the
/// asked-for tables exist (WordPress sites already installed).
#[derive(Debug)]
pub(crate) struct DbObserved {
    pub target: AdminTarget,
    pub plan: mariadb::Plan,
    pub tables: std::collections::BTreeSet<(String, String)>,
}

/// Connects, observes and plans; no change is made here. `tables` are `(database, table)` pairs
/// to check for existence in the same session.
pub(crate) fn plan(
    root: &Root,
    g: &Global,
    specs: &[DbSpec],
    retired: &[Retire],
    tables: &[(String, String)],
) -> Result<Option<DbObserved>> {
    if specs.is_empty() && retired.is_empty() {
        return Ok(None);
    }
    mariadb::provision::validate_specs(specs)?;
    let target = admin_target(root, g)?;
    let own = ownership(g);
    let (plan, tables) = with_admin(&target, async |admin| {
        let observed = mariadb::observe(admin, specs, retired, &own).await?;
        let tables = mariadb::provision::existing_tables(admin, tables).await?;
        Ok((mariadb::plan(specs, retired, &observed, &own), tables))
    })?;
    Ok(Some(DbObserved {
        target,
        plan,
        tables,
    }))
}

/// Runs the actions; returns the ones done (also on failure, inside the error).
pub(crate) fn execute(target: &AdminTarget, actions: Vec<Action>) -> Result<Vec<Action>> {
    let report = with_admin(target, async |admin| {
        mariadb::execute(
            admin,
            mariadb::Plan {
                actions,
                warnings: Vec::new(),
            },
        )
        .await
    })?;
    Ok(report.done)
}

/// Drops what `done` created (databases created empty in this run, users created in this run).
pub(crate) fn undo(target: &AdminTarget, done: &[Action]) -> Vec<String> {
    let mut problems = Vec::new();
    let Ok(rt) = runtime() else {
        return vec!["no runtime to undo database changes".into()];
    };
    rt.block_on(async {
        let mut admin = match Admin::connect(target).await {
            Ok(a) => a,
            Err(e) => {
                problems.push(format!("undoing database changes: {e}"));
                return;
            }
        };
        for a in done.iter().rev() {
            let stmt = match a {
                Action::CreateDatabase { database, .. } => mariadb::sql::drop_database(database),
                Action::CreateUser { user, host, .. } => mariadb::sql::drop_user(user, host),
                _ => continue,
            };
            let r = match stmt {
                Ok(s) => admin.exec(&s).await,
                Err(e) => Err(e),
            };
            if let Err(e) = r {
                problems.push(format!("undoing `{a}`: {e}"));
            }
        }
        let _ = admin.disconnect().await;
    });
    problems
}

/// Drops a site's database and creates it again, empty, with its charset and collation (before
/// a dump is loaded into it).
pub(crate) fn recreate_empty(target: &AdminTarget, db: &crate::config::site::SiteDb) -> Result<()> {
    with_admin(target, async |admin| {
        admin
            .exec(&mariadb::sql::drop_database(&db.database)?)
            .await?;
        admin
            .exec(&mariadb::sql::create_database(
                &db.database,
                &db.charset,
                &db.collation,
            )?)
            .await
    })
}

/// Which accounts are this host's: all of them, or on a shared server those at its web hosts.
pub(crate) fn ownership(g: &Global) -> mariadb::Ownership {
    mariadb::Ownership {
        shared: g.database.shared,
        web_hosts: g.database.web_hosts.clone(),
    }
}

/// The spec of one site's database with its stored or new password.
pub(crate) fn spec(
    g: &Global,
    site: &str,
    db: &crate::config::site::SiteDb,
    password: &str,
) -> DbSpec {
    DbSpec {
        site: site.to_owned(),
        database: db.database.clone(),
        user: db.user.clone(),
        hosts: g.database.web_hosts.clone(),
        allow_host_patterns: g.database.allow_host_patterns,
        charset: db.charset.clone(),
        collation: db.collation.clone(),
        password: Secret::new(password),
        require_tls: g.database.require_tls,
    }
}

/// A new password from the OS CSPRNG.
pub(crate) fn new_password() -> Result<String> {
    Ok(Secret::generate()?.expose().to_owned())
}

/// Where a dump taken before a drop goes.
pub(crate) fn archive_dump_path(g: &Global, site: &str, database: &str) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    g.paths
        .archive_dir
        .join(format!("{site}-{database}-{stamp}.sql.zst"))
}

/// Describes an action for the plan: (action, kind).
pub(crate) fn describe(a: &Action) -> (super::resource::Action, &'static str, String) {
    use super::resource::Action as P;
    match a {
        Action::CreateDatabase { site, .. } => (P::Create, "database", site.clone()),
        Action::CreateUser { site, .. } => (P::Create, "db-user", site.clone()),
        Action::Grant { site, .. } => (P::Create, "db-grant", site.clone()),
        Action::FixGrants { site, .. } => (P::Update, "db-grant", site.clone()),
        Action::RequireTls { site, .. } => (P::Update, "db-user", site.clone()),
        Action::DropDatabase { site, .. } => (P::Delete, "database", site.clone()),
        Action::DropUser { site, .. } => (P::Delete, "db-user", site.clone()),
    }
}
