//! MariaDB for lempctl: per-site database + user, converged idempotently from site specs.
//! Invariant: SQL text is built only in `sql`, processes are started only in
//! `host::exec`, and passwords only leave `Secret` through `expose()`.

pub mod action;
pub mod conn;
pub mod dump;

pub mod error;
pub mod fingerprint;
pub mod names;
pub mod provision;
pub mod secret;
pub mod sql;

pub use conn::{Admin, AdminCredentials, AdminTarget, Tls, read_admin_credentials};
pub use dump::{
    ClientOptions, DumpStats, RowCounter, backup_dump_args, backup_dump_cmd, dump_database,
    dump_to_file, load_cmd,
};
pub use error::{DbError, NameKind};
pub use names::{SiteDbNames, check_collisions, derive_names, resolve_names};
pub use provision::{
    Action, DbInfo, DbSpec, Observed, Plan, Report, Retire, converge, execute, list_databases,
    observe, plan, set_password,
};
pub use secret::Secret;
