//! Converge: observe (3 queries for the whole run), plan (pure), execute (one statement each).
//! Invariant: converge never changes a password (only `set_password` does), never grants
//! GRANT OPTION, and never touches accounts or databases outside the names it is given.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::conn::Admin;
use super::dump::dump_to_file;
use super::error::DbError;
use super::secret::Secret;
use super::sql;
#[cfg(test)]
use crate::config::db_names::derive_names;
use crate::config::db_names::{
    SiteDbNames, check_collisions, validate_database_name, validate_user_name,
};
#[cfg(test)]
use crate::config::global::{DEFAULT_CHARSET, DEFAULT_COLLATION};

const NATIVE_PLUGIN: &str = "mysql_native_password";

/// What one site needs.
#[derive(Debug, Clone)]
pub(crate) struct DbSpec {
    pub site: String,
    pub database: String,
    pub user: String,
    /// Account hosts, e.g. `localhost` or the web server's IP; never `%` unless allowed.
    pub hosts: Vec<String>,
    /// Explicit opt-in for host patterns containing `%` or `_`.
    pub allow_host_patterns: bool,
    pub charset: String,
    pub collation: String,
    pub password: Secret,
    /// Accounts are `REQUIRE SSL` (`database.require_tls`).
    pub require_tls: bool,
}

impl DbSpec {
    /// Derived names, host `localhost`, utf8mb4 with `DEFAULT_COLLATION`.
    #[cfg(test)]
    pub(crate) fn for_site(site: &str, password: Secret) -> Self {
        let SiteDbNames { database, user } = derive_names(site);
        DbSpec {
            site: site.to_owned(),
            database,
            user,
            hosts: vec!["localhost".to_owned()],
            allow_host_patterns: false,
            charset: DEFAULT_CHARSET.to_owned(),
            collation: DEFAULT_COLLATION.to_owned(),
            password,
            require_tls: false,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), DbError> {
        validate_database_name(&self.database)?;
        validate_user_name(&self.user)?;
        if self.hosts.is_empty() {
            return Err(DbError::invalid_value(
                &self.site,
                "a database user needs at least one host",
            ));
        }
        for h in &self.hosts {
            sql::validate_host(h, self.allow_host_patterns)?;
        }
        sql::create_database(&self.database, &self.charset, &self.collation)?;
        sql::quote_str(self.password.expose())?;
        Ok(())
    }
}

/// A site that was removed: drop its database (after a dump when `dump_to` is set) and user.
/// On a shared server only this host's accounts go (see `Ownership`).
#[derive(Debug, Clone)]
pub(crate) struct Retire {
    pub site: String,
    pub database: String,
    pub user: String,
    pub dump_to: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObservedDb {
    pub charset: String,
    pub collation: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObservedAccount {
    pub plugin: String,
    pub auth_string: String,
    /// Global privilege bitmask from mysql.global_priv; 0 = USAGE only.
    pub global_access: u64,
    /// `ssl_type` from mysql.global_priv: 0 none, 1 `SSL` (ANY), 2 `X509`, 3 issuer/subject/cipher.
    pub ssl_type: u64,
}

/// Which accounts of the managed users are this host's to change.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ownership {
    /// `database.shared`: other lempctl hosts use the same server with the same user names at
    /// their own hosts, and may serve a site this host no longer does.
    pub shared: bool,
    /// This host's account hosts (`database.web_hosts`).
    pub web_hosts: Vec<String>,
}

impl Ownership {
    /// On a shared server an account at a host outside `web_hosts` belongs to another host.
    pub(crate) fn owns(&self, host: &str) -> bool {
        !self.shared || self.web_hosts.iter().any(|h| h == host)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObservedGrant {
    /// `db`, `table` or `routine`.
    pub level: String,
    pub user: String,
    pub host: String,
    /// For `db`: the raw `mysql.db.Db` pattern (wildcards escaped); else `db.object`.
    pub object: String,
    /// `db` level only: exactly ALL PRIVILEGES without GRANT OPTION.
    pub exact_all: bool,
}

/// Server state for the managed names only.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observed {
    pub databases: BTreeMap<String, ObservedDb>,
    pub accounts: BTreeMap<(String, String), ObservedAccount>,
    pub grants: Vec<ObservedGrant>,
}

pub(crate) use super::action::Action;

#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub actions: Vec<Action>,
    /// Things reported but deliberately not changed (charset, password mismatch).
    pub warnings: Vec<String>,
}

#[cfg(test)]
impl Plan {
    pub(crate) fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
    pub(crate) fn drift(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(|a| a.is_drift())
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    /// The actions done, in order (undone in reverse when a later step fails).
    pub done: Vec<Action>,
}

/// Checks every spec and that no two sites share a database or user name.
pub(crate) fn validate_specs(desired: &[DbSpec]) -> Result<(), DbError> {
    for s in desired {
        s.validate()?;
    }
    let names: Vec<(&str, SiteDbNames)> = desired
        .iter()
        .map(|s| {
            (
                s.site.as_str(),
                SiteDbNames {
                    database: s.database.clone(),
                    user: s.user.clone(),
                },
            )
        })
        .collect();
    Ok(check_collisions(names.iter().map(|(s, n)| (*s, n)))?)
}

fn grant_drift(
    spec: &DbSpec,
    host: &str,
    account: &ObservedAccount,
    grants: &[&ObservedGrant],
) -> (bool, Vec<String>) {
    let expected = sql::grant_db_pattern(&spec.database);
    let mut have_expected = false;
    let mut drift = Vec::new();
    if account.global_access != 0 {
        drift.push(format!(
            "global privileges (mask {:#x})",
            account.global_access
        ));
    }
    for g in grants.iter().filter(|g| g.host == host) {
        if g.level == "db" && g.object == expected && g.exact_all {
            have_expected = true;
        } else if g.level == "db" && g.object == expected {
            drift.push(format!(
                "privileges on {} differ from ALL without GRANT OPTION",
                spec.database
            ));
        } else {
            drift.push(format!("extra {} grant on {}", g.level, g.object));
        }
    }
    if !have_expected && drift.is_empty() {
        drift.push(format!("missing grant on {}", spec.database));
    }
    (have_expected && drift.is_empty(), drift)
}

/// The pure planner: what must run so that `observed` matches `desired` and `retired` is gone.
/// Accounts `own` does not own are never changed, whatever `observed` holds.
pub(crate) fn plan(
    desired: &[DbSpec],
    retired: &[Retire],
    observed: &Observed,
    own: &Ownership,
) -> Plan {
    let mut p = Plan::default();
    let mut grants_by_user: BTreeMap<&str, Vec<&ObservedGrant>> = BTreeMap::new();
    for g in &observed.grants {
        grants_by_user.entry(g.user.as_str()).or_default().push(g);
    }
    let mut creates_db = Vec::new();
    let mut creates_user = Vec::new();
    let mut grants = Vec::new();
    let mut fixes = Vec::new();
    let mut drops = Vec::new();
    for spec in desired {
        match observed.databases.get(&spec.database) {
            None => creates_db.push(Action::CreateDatabase {
                site: spec.site.clone(),
                database: spec.database.clone(),
                charset: spec.charset.clone(),
                collation: spec.collation.clone(),
            }),
            Some(db) if db.charset != spec.charset || db.collation != spec.collation => {
                p.warnings.push(format!(
                    "{}: database {} has {}/{} instead of {}/{} (not changed: existing tables would keep theirs)",
                    spec.site, spec.database, db.charset, db.collation, spec.charset, spec.collation
                ));
            }
            Some(_) => {}
        }
        let user_grants = grants_by_user
            .get(spec.user.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for host in &spec.hosts {
            match observed.accounts.get(&(spec.user.clone(), host.clone())) {
                None => {
                    creates_user.push(Action::CreateUser {
                        site: spec.site.clone(),
                        user: spec.user.clone(),
                        host: host.clone(),
                        password: spec.password.clone(),
                        require_tls: spec.require_tls,
                    });
                    grants.push(Action::Grant {
                        site: spec.site.clone(),
                        user: spec.user.clone(),
                        host: host.clone(),
                        database: spec.database.clone(),
                    });
                }
                Some(acct) => {
                    if acct.plugin != NATIVE_PLUGIN {
                        p.warnings.push(format!(
                            "{}: '{}'@'{host}' uses auth plugin {:?}; stored password not verified",
                            spec.site, spec.user, acct.plugin
                        ));
                    } else if acct.auth_string != spec.password.native_password_hash() {
                        p.warnings.push(format!(
                            "{}: password of '{}'@'{host}' differs from the stored one (not changed; rotate to fix)",
                            spec.site, spec.user
                        ));
                    }
                    if spec.require_tls && acct.ssl_type == 0 {
                        fixes.push(Action::RequireTls {
                            site: spec.site.clone(),
                            user: spec.user.clone(),
                            host: host.clone(),
                        });
                    } else if !spec.require_tls && acct.ssl_type != 0 {
                        // Not lifted: it may have been set by hand; but a client without TLS fails.
                        p.warnings.push(format!(
                            "{}: '{}'@'{host}' requires TLS but `database.require_tls` is off: clients connecting without TLS are refused (lift it by hand with ALTER USER ... REQUIRE NONE)",
                            spec.site, spec.user
                        ));
                    }
                    let (ok, drift) = grant_drift(spec, host, acct, user_grants);
                    if !ok {
                        fixes.push(Action::FixGrants {
                            site: spec.site.clone(),
                            user: spec.user.clone(),
                            host: host.clone(),
                            database: spec.database.clone(),
                            drift,
                        });
                    }
                }
            }
        }
        for (user, host) in observed.accounts.keys() {
            if *user == spec.user && !spec.hosts.contains(host) && own.owns(host) {
                drops.push(Action::DropUser {
                    site: spec.site.clone(),
                    user: user.clone(),
                    host: host.clone(),
                    drift: true,
                });
            }
        }
    }
    let kept_dbs: BTreeSet<&str> = desired.iter().map(|s| s.database.as_str()).collect();
    let kept_users: BTreeSet<&str> = desired.iter().map(|s| s.user.as_str()).collect();
    for r in retired {
        let db_exists = observed.databases.contains_key(&r.database);
        if !kept_dbs.contains(r.database.as_str()) && db_exists {
            if own.shared {
                // Another host may serve the site now (a move): its data is not this host's to drop.
                p.warnings.push(format!(
                    "{}: database {} kept (`database.shared`: other hosts may use it); only this host's accounts of '{}' are dropped",
                    r.site, r.database, r.user
                ));
            } else {
                drops.push(Action::DropDatabase {
                    site: r.site.clone(),
                    database: r.database.clone(),
                    dump_to: r.dump_to.clone(),
                });
            }
        }
        if !kept_users.contains(r.user.as_str()) {
            for (user, host) in observed.accounts.keys() {
                if *user == r.user && own.owns(host) {
                    drops.push(Action::DropUser {
                        site: r.site.clone(),
                        user: user.clone(),
                        host: host.clone(),
                        drift: false,
                    });
                }
            }
        }
    }
    p.actions = [creates_db, creates_user, grants, fixes, drops].concat();
    p
}

fn managed_names<'a>(
    desired: &'a [DbSpec],
    retired: &'a [Retire],
) -> (BTreeSet<&'a str>, BTreeSet<&'a str>) {
    let dbs = desired
        .iter()
        .map(|s| s.database.as_str())
        .chain(retired.iter().map(|r| r.database.as_str()));
    let users = desired
        .iter()
        .map(|s| s.user.as_str())
        .chain(retired.iter().map(|r| r.user.as_str()));
    (dbs.collect(), users.collect())
}

/// Reads the state of the managed names with exactly three queries, whatever their number.
/// Accounts and grants at hosts `own` does not own are read and left out.
pub(crate) async fn observe(
    admin: &mut Admin,
    desired: &[DbSpec],
    retired: &[Retire],
    own: &Ownership,
) -> Result<Observed, DbError> {
    let (dbs, users) = managed_names(desired, retired);
    let mut o = Observed::default();
    let rows: Vec<(String, String, String)> = admin
        .fetch(&sql::observe_schemata(dbs.iter().copied())?)
        .await?;
    for (name, charset, collation) in rows {
        o.databases.insert(name, ObservedDb { charset, collation });
    }
    let rows: Vec<(String, String, String, String, u64, u64)> = admin
        .fetch(&sql::observe_accounts(users.iter().copied())?)
        .await?;
    for (user, host, plugin, auth_string, global_access, ssl_type) in rows {
        if !own.owns(&host) {
            continue;
        }
        o.accounts.insert(
            (user, host),
            ObservedAccount {
                plugin,
                auth_string,
                global_access,
                ssl_type,
            },
        );
    }
    let rows: Vec<(String, String, String, String, i64)> = admin
        .fetch(&sql::observe_grants(users.iter().copied())?)
        .await?;
    o.grants = rows
        .into_iter()
        .filter(|(_, _, host, _, _)| own.owns(host))
        .map(|(level, user, host, object, exact)| ObservedGrant {
            level,
            user,
            host,
            object,
            exact_all: exact != 0,
        })
        .collect();
    Ok(o)
}

async fn apply(admin: &mut Admin, action: &Action) -> Result<(), DbError> {
    match action {
        Action::CreateDatabase {
            database,
            charset,
            collation,
            ..
        } => {
            admin
                .exec(&sql::create_database(database, charset, collation)?)
                .await
        }
        Action::CreateUser {
            user,
            host,
            password,
            require_tls,
            ..
        } => {
            admin
                .exec(&sql::create_user(user, host, password, *require_tls)?)
                .await
        }
        Action::RequireTls { user, host, .. } => admin.exec(&sql::require_ssl(user, host)?).await,
        Action::Grant {
            user,
            host,
            database,
            ..
        } => {
            admin
                .exec(&sql::grant_all_on_db(database, user, host)?)
                .await
        }
        Action::FixGrants {
            user,
            host,
            database,
            ..
        } => {
            admin.exec(&sql::revoke_everything(user, host)?).await?;
            admin
                .exec(&sql::grant_all_on_db(database, user, host)?)
                .await
        }
        Action::DropDatabase {
            database, dump_to, ..
        } => {
            if let Some(path) = dump_to {
                let target = admin.target().clone();
                dump_to_file(&target, database, path).await?;
            }
            admin.exec(&sql::drop_database(database)?).await
        }
        Action::DropUser { user, host, .. } => admin.exec(&sql::drop_user(user, host)?).await,
    }
}

/// Runs the plan in order; stops at the first failure with `DbError::Incomplete`.
pub(crate) async fn execute(admin: &mut Admin, plan: Plan) -> Result<Report, DbError> {
    let mut done = Vec::with_capacity(plan.actions.len());
    for action in plan.actions {
        tracing::debug!(%action, "apply");
        if let Err(e) = apply(admin, &action).await {
            return Err(DbError::Incomplete {
                done,
                failed: action.to_string(),
                source: Box::new(e),
            });
        }
        done.push(action);
    }
    Ok(Report { done })
}

/// Rotation: sets `new` on every configured host of the site's user. Store `new` as the
/// pending password before calling, so a crash in between cannot lose it.
pub(crate) async fn set_password(
    admin: &mut Admin,
    spec: &DbSpec,
    new: &Secret,
) -> Result<(), DbError> {
    spec.validate()?;
    for host in &spec.hosts {
        admin
            .exec(&sql::alter_user_password(&spec.user, host, new)?)
            .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DbInfo {
    pub site: String,
    pub database: String,
    pub user: String,
    pub exists: bool,
    pub size_bytes: u64,
    pub tables: u64,
    /// `user@host` accounts holding a database-level grant on it.
    pub grantees: Vec<String>,
}

/// Managed databases with size (data + index) and grantees, in one query.
pub(crate) async fn list_databases(
    admin: &mut Admin,
    specs: &[DbSpec],
) -> Result<Vec<DbInfo>, DbError> {
    let rows: Vec<(String, u64, u64, String)> = admin
        .fetch(&sql::list_databases(
            specs.iter().map(|s| s.database.as_str()),
        )?)
        .await?;
    let by_name: BTreeMap<String, (u64, u64, String)> = rows
        .into_iter()
        .map(|(n, size, tables, g)| (n, (size, tables, g)))
        .collect();
    Ok(specs
        .iter()
        .map(|s| {
            let found = by_name.get(&s.database);
            DbInfo {
                site: s.site.clone(),
                database: s.database.clone(),
                user: s.user.clone(),
                exists: found.is_some(),
                size_bytes: found.map_or(0, |f| f.0),
                tables: found.map_or(0, |f| f.1),
                grantees: found
                    .map(|f| {
                        f.2.split(',')
                            .filter(|x| !x.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect())
}

/// Rows of each of `tables` in `db` (one query); a missing table is an error.
pub(crate) async fn row_counts<'a>(
    admin: &mut Admin,
    db: &str,
    tables: impl IntoIterator<Item = &'a String>,
) -> Result<BTreeMap<String, u64>, DbError> {
    let tables: Vec<&String> = tables.into_iter().collect();
    if tables.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows: Vec<(String, u64)> = admin.fetch(&sql::count_rows(db, tables)?).await?;
    Ok(rows.into_iter().collect())
}

/// The `(schema, table)` pairs of `wanted` that exist (one query).
pub(crate) async fn existing_tables(
    admin: &mut Admin,
    wanted: &[(String, String)],
) -> Result<BTreeSet<(String, String)>, DbError> {
    if wanted.is_empty() {
        return Ok(BTreeSet::new());
    }
    let rows: Vec<(String, String)> = admin
        .fetch(&sql::existing_tables(
            wanted.iter().map(|(s, t)| (s.as_str(), t.as_str())),
        )?)
        .await?;
    Ok(rows.into_iter().filter(|r| wanted.contains(r)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(site: &str) -> DbSpec {
        DbSpec::for_site(site, Secret::new("pw"))
    }

    fn whole() -> Ownership {
        Ownership::default()
    }

    /// This host is `127.0.0.1` on a server another host reaches from `10.0.0.2`.
    fn shared() -> Ownership {
        Ownership {
            shared: true,
            web_hosts: vec!["127.0.0.1".into()],
        }
    }

    fn at(mut s: DbSpec, host: &str) -> DbSpec {
        s.hosts = vec![host.into()];
        s
    }

    /// `specs` healthy, plus the same users' accounts (with grants) at `10.0.0.2`.
    fn with_other_host(specs: &[DbSpec]) -> Observed {
        let other: Vec<DbSpec> = specs.iter().map(|s| at(s.clone(), "10.0.0.2")).collect();
        let mut o = healthy(specs);
        let b = healthy(&other);
        o.accounts.extend(b.accounts);
        o.grants.extend(b.grants);
        o
    }

    fn healthy(specs: &[DbSpec]) -> Observed {
        let mut o = Observed::default();
        for s in specs {
            o.databases.insert(
                s.database.clone(),
                ObservedDb {
                    charset: s.charset.clone(),
                    collation: s.collation.clone(),
                },
            );
            for h in &s.hosts {
                o.accounts.insert(
                    (s.user.clone(), h.clone()),
                    ObservedAccount {
                        plugin: NATIVE_PLUGIN.into(),
                        auth_string: s.password.native_password_hash(),
                        global_access: 0,
                        ssl_type: 0,
                    },
                );
                o.grants.push(ObservedGrant {
                    level: "db".into(),
                    user: s.user.clone(),
                    host: h.clone(),
                    object: sql::grant_db_pattern(&s.database),
                    exact_all: true,
                });
            }
        }
        o
    }

    #[test]
    fn empty_server_creates_everything_in_order() {
        let s = [spec("a.test"), spec("b.test")];
        let p = plan(&s, &[], &Observed::default(), &whole());
        let kinds: Vec<&str> = p
            .actions
            .iter()
            .map(|a| match a {
                Action::CreateDatabase { .. } => "db",
                Action::CreateUser { .. } => "user",
                Action::Grant { .. } => "grant",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["db", "db", "user", "user", "grant", "grant"]);
        assert_eq!(p.drift().count(), 0);
    }

    #[test]
    fn matching_state_is_noop() {
        let s = [spec("a.test")];
        let p = plan(&s, &[], &healthy(&s), &whole());
        assert!(p.is_empty() && p.warnings.is_empty(), "{p:?}");
    }

    #[test]
    fn extras_and_partial_grants_are_drift() {
        let s = [spec("a.test")];
        let mut o = healthy(&s);
        o.grants.push(ObservedGrant {
            level: "db".into(),
            user: s[0].user.clone(),
            host: "localhost".into(),
            object: "other".into(),
            exact_all: true,
        });
        let p = plan(&s, &[], &o, &whole());
        assert_eq!(p.drift().count(), 1);
        assert!(p.actions[0].to_string().contains("extra db grant on other"));

        // unescaped pattern (hand-made grant) is not the expected grant
        let mut o = healthy(&s);
        o.grants[0].object = s[0].database.clone();
        assert!(
            plan(&s, &[], &o, &whole()).actions[0]
                .to_string()
                .contains("extra db grant")
        );

        let mut o = healthy(&s);
        o.grants[0].exact_all = false;
        assert!(
            plan(&s, &[], &o, &whole()).actions[0]
                .to_string()
                .contains("differ")
        );

        let mut o = healthy(&s);
        o.grants.clear();
        assert!(
            plan(&s, &[], &o, &whole()).actions[0]
                .to_string()
                .contains("missing grant")
        );

        let mut o = healthy(&s);
        o.accounts.values_mut().for_each(|a| a.global_access = 1);
        assert!(
            plan(&s, &[], &o, &whole()).actions[0]
                .to_string()
                .contains("global")
        );
    }

    #[test]
    fn password_and_charset_mismatch_only_warn() {
        let s = [spec("a.test")];
        let mut o = healthy(&s);
        o.accounts
            .values_mut()
            .for_each(|a| a.auth_string = "*00".into());
        o.databases
            .values_mut()
            .for_each(|d| d.collation = "utf8mb4_general_ci".into());
        let p = plan(&s, &[], &o, &whole());
        assert!(p.is_empty());
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
    }

    #[test]
    fn host_change_creates_new_and_drops_stale() {
        let old = [spec("a.test")];
        let o = healthy(&old);
        let mut new = old.clone();
        new[0].hosts = vec!["127.0.0.1".into()];
        let p = plan(&new, &[], &o, &whole());
        assert!(matches!(&p.actions[0], Action::CreateUser { host, .. } if host == "127.0.0.1"));
        assert!(
            matches!(&p.actions[2], Action::DropUser { host, drift: true, .. } if host == "localhost")
        );
    }

    #[test]
    fn retire_drops_existing_only_and_never_desired_names() {
        let s = [spec("a.test")];
        let o = healthy(&s);
        let r = Retire {
            site: "a.test".into(),
            database: s[0].database.clone(),
            user: s[0].user.clone(),
            dump_to: None,
        };
        assert!(
            plan(&[], std::slice::from_ref(&r), &o, &whole())
                .actions
                .len()
                == 2
        );
        assert!(
            plan(&s, std::slice::from_ref(&r), &o, &whole()).is_empty(),
            "still desired"
        );
        assert!(
            plan(&[], &[r], &Observed::default(), &whole()).is_empty(),
            "already gone"
        );
    }

    #[test]
    fn shared_server_leaves_other_hosts_accounts_alone() {
        let s = [at(spec("a.test"), "127.0.0.1")];
        let o = with_other_host(&s);
        let p = plan(&s, &[], &o, &shared());
        assert!(p.is_empty() && p.warnings.is_empty(), "{p:?}");
        // without `shared` the same account is drift of this host's configuration
        let p = plan(&s, &[], &o, &whole());
        assert!(
            matches!(&p.actions[..], [Action::DropUser { host, drift: true, .. }] if host == "10.0.0.2"),
            "{p:?}"
        );
    }

    #[test]
    fn shared_retire_keeps_the_database_and_other_hosts_accounts() {
        let s = [at(spec("a.test"), "127.0.0.1")];
        let o = with_other_host(&s);
        let r = Retire {
            site: "a.test".into(),
            database: s[0].database.clone(),
            user: s[0].user.clone(),
            dump_to: Some(PathBuf::from("/archive/a.sql.zst")),
        };
        let p = plan(&[], std::slice::from_ref(&r), &o, &shared());
        assert!(
            matches!(&p.actions[..], [Action::DropUser { host, drift: false, .. }] if host == "127.0.0.1"),
            "{p:?}"
        );
        assert!(
            p.warnings[0].contains("kept") && p.warnings[0].contains(&s[0].database),
            "{:?}",
            p.warnings
        );
        // not shared: dumped and dropped, with every account
        let p = plan(&[], &[r], &o, &whole());
        assert!(matches!(
            &p.actions[0],
            Action::DropDatabase {
                dump_to: Some(_),
                ..
            }
        ));
        assert_eq!(p.actions.len(), 3, "{p:?}");
    }

    #[test]
    fn require_tls_creates_accounts_with_it_and_fixes_those_without() {
        let mut a = spec("a.test");
        a.require_tls = true;
        let s = [a];
        let p = plan(&s, &[], &Observed::default(), &whole());
        let create = p
            .actions
            .iter()
            .find_map(|a| match a {
                Action::CreateUser {
                    user,
                    host,
                    password,
                    require_tls,
                    ..
                } => Some(sql::create_user(user, host, password, *require_tls).unwrap()),
                _ => None,
            })
            .unwrap();
        assert!(create.text().ends_with(" REQUIRE SSL"), "{create:?}");
        assert!(!create.shown().contains("'pw'"));

        // an existing account without it: drift, fixed by ALTER USER
        let o = healthy(&s);
        let p = plan(&s, &[], &o, &whole());
        assert!(
            matches!(&p.actions[..], [Action::RequireTls { host, .. }] if host == "localhost"),
            "{p:?}"
        );
        assert_eq!(p.drift().count(), 1);
        assert_eq!(
            sql::require_ssl(&s[0].user, "localhost").unwrap().text(),
            format!("ALTER USER '{}'@'localhost' REQUIRE SSL", s[0].user)
        );
        let mut o = healthy(&s);
        o.accounts.values_mut().for_each(|a| a.ssl_type = 1);
        assert!(plan(&s, &[], &o, &whole()).is_empty());
        // off: an account that requires TLS is left alone, with a warning
        let plain = [spec("a.test")];
        let p = plan(&plain, &[], &o, &whole());
        assert!(p.is_empty() && p.warnings.len() == 1, "{p:?}");
    }
}
