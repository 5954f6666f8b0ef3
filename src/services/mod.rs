//! One adapter per product; each knows one product and nothing else.

pub(crate) mod acme;
pub(crate) mod certs;
pub(crate) mod dns_update;
pub(crate) mod fail2ban;
pub(crate) mod logrotate;
pub(crate) mod mail;
pub(crate) mod mariadb;
pub(crate) mod nginx;
pub(crate) mod php_fpm;
pub(crate) mod php_serialized;
pub(crate) mod restic;
pub(crate) mod rustic;
pub(crate) mod s3;
pub(crate) mod systemd;
pub(crate) mod wordpress;

/// A real program rejected the configuration this run wrote; nothing was kept.
#[derive(Debug, thiserror::Error)]
#[error(
    "{program} rejected the new configuration; every change of this run was rolled back\n{message}"
)]
pub(crate) struct ValidationError {
    pub program: String,
    pub message: String,
}

/// A current-thread tokio runtime for one call into an async client (MariaDB, S3, SMTP): the
/// synchronous code around it keeps no async plumbing.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
