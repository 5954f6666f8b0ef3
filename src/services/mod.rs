//! One adapter per product; each knows one product and nothing else.

pub mod mail;
pub mod mariadb;
pub mod nginx;
pub mod php_fpm;
pub mod restic;
pub mod rustic;
pub mod s3;
pub mod systemd;
pub mod wordpress;

/// A real program rejected the configuration this run wrote; nothing was kept.
#[derive(Debug, thiserror::Error)]
#[error(
    "{program} rejected the new configuration; every change of this run was rolled back\n{message}"
)]
pub struct ValidationError {
    pub program: String,
    pub message: String,
}

/// A current-thread tokio runtime for one call into an async client (MariaDB, S3, SMTP): the
/// synchronous code around it keeps no async plumbing.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
