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

impl Context {
    pub fn load(&self) -> Result<Config> {
        config::load(&self.root, &self.config_path)
    }
}
