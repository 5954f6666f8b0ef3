//! The state file: what lempctl owns on this host and the hash of what it last wrote, so a
//! hand-edited file is recognised as drift. Written before a run changes anything (with the
//! run's intended hashes as `pending`), so a run killed half-way is recognised by the next one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::host::Root;
use crate::host::service_manager::Service;

/// The state file's format. 2: records name the service that reads each file.
pub(crate) const VERSION: u32 = 2;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct FileRecord {
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The service that reads it (reloaded when it changes or is deleted); none for files no
    /// service reads, and in states older than `VERSION` 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct LinkRecord {
    pub target: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct SiteRecord {
    pub kind: String,
    pub user: String,
    pub site_dir: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_user: Option<String>,
    /// The name of the site file it was applied from (in the sites directory), so a file that no longer loads still
    /// reserves its site's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct State {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub files: BTreeMap<PathBuf, FileRecord>,
    #[serde(default)]
    pub links: BTreeMap<PathBuf, LinkRecord>,
    /// Users lempctl created, by name → site.
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    #[serde(default)]
    pub sites: BTreeMap<String, SiteRecord>,
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl State {
    pub(crate) fn load(root: &Root, path: &Path) -> Result<Self> {
        match root.read(path)? {
            None => Ok(Self {
                version: VERSION,
                ..Self::default()
            }),
            Some(bytes) => {
                let state: Self = serde_json::from_slice(&bytes)
                    .with_context(|| format!("reading state file {}", root.path(path).display()))?;
                // An older format is migrated by the next run (it writes `VERSION`); a newer one
                // may record what this lempctl cannot read, and writing it back would lose that.
                if state.version > VERSION {
                    anyhow::bail!(
                        "state file {} has format {}, written by a newer lempctl; this lempctl reads formats up to {VERSION} and changes nothing\n\nhint: install the newer lempctl again (downgrading lempctl is not supported)",
                        root.path(path).display(),
                        state.version
                    );
                }
                Ok(state)
            }
        }
    }

    pub(crate) fn save(&self, root: &Root, path: &Path) -> Result<()> {
        let mut text = serde_json::to_vec_pretty(self).context("serialising state")?;
        text.push(b'\n');
        root.write_private(path, &text, 0o600)
    }

    /// True when `hash` is what lempctl last wrote (or was about to write) at `path`.
    pub(crate) fn owns_content(&self, path: &Path, hash: &str) -> bool {
        self.files
            .get(path)
            .is_some_and(|r| r.sha256 == hash || r.pending.as_deref() == Some(hash))
    }
}
