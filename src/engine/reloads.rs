//! When lempctl last reloaded each service (`<state_dir>/reloads.json`), for `status`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::config::global::Global;
use crate::host::Root;
use crate::host::machine::Service;

fn path(g: &Global) -> PathBuf {
    g.paths.state_dir.join("reloads.json")
}

/// Unit name → Unix time of lempctl's last reload of it.
pub(crate) fn all(root: &Root, g: &Global) -> BTreeMap<String, i64> {
    root.read(&path(g))
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Records that `services` were reloaded now.
pub(crate) fn record(root: &Root, g: &Global, services: &[Service]) -> Result<()> {
    if services.is_empty() {
        return Ok(());
    }
    let mut all = all(root, g);
    let now = chrono::Utc::now().timestamp();
    for s in services {
        all.insert(s.unit(), now);
    }
    let text = serde_json::to_vec_pretty(&all).context("reload record")?;
    root.write_private(&path(g), &text, 0o644)
}
