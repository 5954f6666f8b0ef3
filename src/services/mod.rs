//! One adapter per product; each knows one product and nothing else.

pub mod mail;
pub mod mariadb;
pub mod nginx;
pub mod php_fpm;
pub mod restic;
pub mod rustic;
pub mod s3;
pub mod schedule;
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
