//! The machine, seen through `--root`: files (`Root`), processes (`exec`), accounts, services.

pub mod accounts;
pub mod exec;
pub mod root;
pub mod service_manager;

pub use root::{Journal, Perms, Root};
