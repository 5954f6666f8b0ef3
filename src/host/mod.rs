//! The machine, seen through `--root`: files (`Root`), processes (`exec`), accounts, services.

pub(crate) mod accounts;
pub(crate) mod disk;
pub(crate) mod dns;
pub(crate) mod exec;
pub(crate) mod limits;
pub(crate) mod machine;
pub(crate) mod php;
pub(crate) mod root;
pub(crate) mod service_manager;
pub(crate) mod walk;

pub(crate) use root::{Journal, Links, Perms, Root};
