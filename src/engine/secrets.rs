//! Per-site secrets (database password, later WordPress salts and admin password): generated
//! from the OS CSPRNG once, stored root-only (0600) in `<state_dir>/credentials/<site>.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::global::Global;
use crate::host::Root;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SiteSecrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_password: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub wp_salts: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wp_admin_password: Option<String>,
    /// `access.basic_auth`: the password, and its line in nginx's password file (salted SHA-1,
    /// `{SSHA}`; kept so the file does not change on every run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth_hash: Option<String>,
}

/// Host path of a site's secrets file.
pub(crate) fn path(g: &Global, site: &str) -> PathBuf {
    g.paths
        .state_dir
        .join("credentials")
        .join(format!("{site}.json"))
}

pub(crate) fn load(root: &Root, file: &Path) -> Result<SiteSecrets> {
    match root.read(file)? {
        None => Ok(SiteSecrets::default()),
        Some(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("reading {}", root.path(file).display())),
    }
}

pub(crate) fn to_bytes(s: &SiteSecrets) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(s).unwrap_or_default();
    v.push(b'\n');
    v
}
