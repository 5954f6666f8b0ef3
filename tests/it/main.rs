//! Integration tests: the built binary against real private nginx and php-fpm in sandbox roots.
// Test code may unwrap, print and write files directly: the architecture guards are for the product.
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

mod support;

mod ansible;
mod apply;
mod attacks;
mod backup;
mod broken_file;
mod cli;
mod clone;
mod confinement;
mod db;
mod deb;
mod doctor;
mod dry_run;
mod fail2ban;
mod failures;
mod fleet;
mod fpm_masters;
mod import;
mod kinds;
mod logrotate;
mod proxy;
mod restore;
mod s3;
mod shared_db;
mod site_remove;
mod site_update;
mod status;
mod timers;
mod tls;
mod units;
mod uploads;
mod validation;
mod wordpress;
