//! lempctl: declarative, transactional LEMP/WordPress hosting on bare metal.
//!
//! Code map (see docs/architecture.md):
//! - `cli/`: the only layer that reads argv or prints.
//! - `ops/`: one function per command; returns data or a `Report`.
//! - `config/`: YAML → validated model (`Global`, `Site`); nothing below sees raw input.
//! - `render/`: model → text with minijinja (embedded, overridable templates).
//! - `engine/`: the one code path that changes the system: desire → plan → apply.
//! - `host/`: the machine through `--root`: files (`Root`, the only writer), processes (`exec`,
//!   the only spawner), accounts, service manager.
//! - `services/`: one adapter per product (nginx, php-fpm, systemd, schedules).
//!
//! Invariants: `cli → ops → engine → {render, services, host}`; only `cli/printer.rs` prints;
//! only `host/exec.rs` starts processes; only `host/root.rs` writes files; a `Site` exists only
//! validated.

pub mod cli;
pub mod config;
pub(crate) mod engine;
pub(crate) mod error;
pub(crate) mod host;
pub(crate) mod ops;
pub mod render;
pub(crate) mod services;

/// Entry point of the binary.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(cli::run())
}
