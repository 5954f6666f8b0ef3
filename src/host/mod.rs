//! The machine, seen through `--root`: files (`Root`), processes (`exec`), accounts, services.

pub mod accounts;
pub mod exec;
pub mod machine;
pub mod root;
pub mod service_manager;
pub mod walk;

pub use root::{Journal, Links, Perms, Root};
