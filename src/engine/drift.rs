//! Managed files and links that differ from what lempctl last wrote: edited by hand, deleted, or
//! replaced by something else. Read-only: `doctor` lists them, `apply --force` restores them.

use std::path::PathBuf;

use anyhow::Result;

use super::state::{State, sha256};
use crate::host::Root;

/// How a managed path differs from its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Drift {
    /// The content is not what lempctl wrote (nor what a killed run was about to write).
    Edited,
    /// The file or link is gone.
    Missing,
    /// A link points elsewhere (the target it points to now).
    Relinked(PathBuf),
    /// Something that is not a regular file stands in a managed file's place (a FIFO, a
    /// directory, an untrusted link): why it could not be read.
    Unreadable(String),
}

/// Every recorded file and link that differs, with its host path, in path order.
pub(crate) fn drifted(root: &Root, state: &State) -> Result<Vec<(PathBuf, Drift)>> {
    let mut out = Vec::new();
    for path in state.files.keys() {
        match root.read(path) {
            Ok(Some(cur)) if state.owns_content(path, &sha256(&cur)) => {}
            Ok(Some(_)) => out.push((path.clone(), Drift::Edited)),
            Ok(None) => out.push((path.clone(), Drift::Missing)),
            Err(e) => out.push((path.clone(), Drift::Unreadable(format!("{e:#}")))),
        }
    }
    for (path, rec) in &state.links {
        // managed links live in root-only configuration directories (sites-enabled, wants)
        match std::fs::read_link(root.path(path)) {
            Ok(t) if t == rec.target => {}
            Ok(t) => out.push((path.clone(), Drift::Relinked(t))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                out.push((path.clone(), Drift::Missing));
            }
            Err(e) => out.push((path.clone(), Drift::Unreadable(e.to_string()))),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
