//! The one error type of the MariaDB module.
//! Invariant: a caller can tell "server unreachable" from "authentication failed" from
//! "SQL refused" by the variant alone; messages never contain a password.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error("database server unreachable at {target}: {reason}")]
    Unreachable { target: String, reason: String },

    #[error("authentication failed for the admin connection to {target}: {message}")]
    AuthFailed { target: String, message: String },

    #[error("TLS to the database server at {target} failed: {reason}")]
    Tls { target: String, reason: String },

    #[error("SQL error {code} ({state}) while {context}: {message}")]
    Sql {
        code: u16,
        state: String,
        message: String,
        context: String,
    },

    #[error("database driver error while {context}: {message}")]
    Driver { context: String, message: String },

    #[error("invalid value {value:?}: {problem}")]
    InvalidValue { value: String, problem: String },

    #[error(transparent)]
    Name(#[from] crate::config::db_names::NameError),

    #[error("admin credentials file {path}: {problem}")]
    Credentials { path: PathBuf, problem: String },

    #[error("dump of database {database} failed: {reason}")]
    Dump { database: String, reason: String },

    #[error("stopped after {} completed action(s): {failed}: {source}", done.len())]
    Incomplete {
        done: Vec<super::action::Action>,
        failed: String,
        #[source]
        source: Box<DbError>,
    },

    #[error("could not read random bytes from the OS: {0}")]
    Random(String),
}

impl DbError {
    pub(crate) fn invalid_value(value: &str, problem: impl Into<String>) -> Self {
        DbError::InvalidValue {
            value: value.to_owned(),
            problem: problem.into(),
        }
    }
}
