//! One change to the database server that a plan holds: shown in reports, executed by
//! `provision`, carried by errors for the undo of a failed run.

use std::fmt;
use std::path::PathBuf;

use super::secret::Secret;

#[derive(Debug, Clone)]
pub enum Action {
    CreateDatabase {
        site: String,
        database: String,
        charset: String,
        collation: String,
    },
    CreateUser {
        site: String,
        user: String,
        host: String,
        password: Secret,
        /// `REQUIRE SSL` (`database.require_tls`).
        require_tls: bool,
    },
    /// Grant on a freshly created account.
    Grant {
        site: String,
        user: String,
        host: String,
        database: String,
    },
    /// Drift: the existing account's privileges differ; revoke everything, grant the expected.
    FixGrants {
        site: String,
        user: String,
        host: String,
        database: String,
        drift: Vec<String>,
    },
    /// Drift: the existing account accepts connections without TLS; `REQUIRE SSL` it.
    RequireTls {
        site: String,
        user: String,
        host: String,
    },
    DropDatabase {
        site: String,
        database: String,
        dump_to: Option<PathBuf>,
    },
    /// Retired site, or a managed user at a host no longer configured (drift).
    DropUser {
        site: String,
        user: String,
        host: String,
        drift: bool,
    },
}

impl Action {
    pub fn is_drift(&self) -> bool {
        matches!(
            self,
            Action::FixGrants { .. }
                | Action::RequireTls { .. }
                | Action::DropUser { drift: true, .. }
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::CreateDatabase {
                site,
                database,
                collation,
                ..
            } => {
                write!(f, "{site}: create database {database} ({collation})")
            }
            Action::CreateUser {
                site,
                user,
                host,
                require_tls,
                ..
            } => {
                let tls = if *require_tls { " (REQUIRE SSL)" } else { "" };
                write!(f, "{site}: create user '{user}'@'{host}'{tls}")
            }
            Action::RequireTls { site, user, host } => write!(
                f,
                "{site}: drift on '{user}'@'{host}' (connects without TLS); require SSL"
            ),
            Action::Grant {
                site,
                user,
                host,
                database,
            } => {
                write!(f, "{site}: grant all on {database}.* to '{user}'@'{host}'")
            }
            Action::FixGrants {
                site,
                user,
                host,
                database,
                drift,
            } => write!(
                f,
                "{site}: drift on '{user}'@'{host}' ({}); reset grants to all on {database}.*",
                drift.join("; ")
            ),
            Action::DropDatabase {
                site,
                database,
                dump_to,
            } => match dump_to {
                Some(p) => write!(
                    f,
                    "{site}: dump database {database} to {} and drop it",
                    p.display()
                ),
                None => write!(f, "{site}: drop database {database}"),
            },
            Action::DropUser {
                site,
                user,
                host,
                drift,
            } => {
                let why = if *drift {
                    " (host no longer configured)"
                } else {
                    ""
                };
                write!(f, "{site}: drop user '{user}'@'{host}'{why}")
            }
        }
    }
}
