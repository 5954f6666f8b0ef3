//! One function per command: takes a `Context` and an options struct, returns a `Report` or data.
//! Nothing here prints.

pub mod apply;
pub mod backup;
pub mod db;
pub mod s3;
pub mod sandbox;
pub mod site;
pub mod status;
pub mod wp;

use std::path::PathBuf;

use anyhow::Result;

use crate::config::{self, Config};
use crate::host::Root;

/// Where a command works: the root and the configuration file (a host path under the root).
#[derive(Debug, Clone)]
pub struct Context {
    pub root: Root,
    pub config_path: PathBuf,
}

/// The configured site of that name; a bad or unknown name is invalid input (exit 2).
pub(crate) fn find_site<'a>(config: &'a Config, name: &str) -> Result<&'a crate::config::Site> {
    let fqdn = crate::config::Fqdn::parse(name).map_err(|why| {
        crate::config::UsageError(format!(
            "invalid site name `{name}`: {why}\n  allowed: {}",
            config::fqdn::ALLOWED
        ))
    })?;
    config.site(&fqdn).ok_or_else(|| {
        crate::config::UsageError(format!(
            "no site `{fqdn}` in {}",
            config.global.paths.sites_dir.display()
        ))
        .into()
    })
}

/// Converges one site through the engine (host-wide files included).
pub(crate) fn converge_site(
    ctx: &Context,
    config: &Config,
    site: &crate::config::Site,
    dry_run: bool,
    wait: std::time::Duration,
) -> Result<crate::report::Report> {
    let opts = crate::engine::RunOptions {
        scope: crate::engine::Scope::Sites(vec![site.name.clone()]),
        dry_run,
        wait,
        ..Default::default()
    };
    crate::engine::run(&ctx.root, config, &opts)
}

impl Context {
    pub fn load(&self) -> Result<Config> {
        config::load(&self.root, &self.config_path)
    }
}
