//! MariaDB for lempctl: per-site database + user, converged idempotently from site specs.
//! Invariant: SQL text is built only in `sql`, processes are started only in
//! `host::exec`, and passwords only leave `Secret` through `expose()`.

pub(crate) mod action;
pub(crate) mod conn;
pub(crate) mod dump;
pub(crate) mod dump_rewrite;

pub(crate) mod error;
pub(crate) mod fingerprint;
pub(crate) mod provision;
pub(crate) mod secret;
pub(crate) mod sql;

pub(crate) use conn::{Admin, AdminTarget, Tls, read_admin_credentials};
pub(crate) use dump::{
    ClientOptions, RowCounter, TableFilter, backup_dump_cmd, copy_dump_cmd, dump_to_file, load_cmd,
};
pub(crate) use error::DbError;
pub(crate) use provision::{
    Action, DbSpec, Ownership, Plan, Retire, execute, list_databases, observe, plan, set_password,
};
pub(crate) use secret::Secret;
