//! `Report`: what a command did, in the shape `--json` prints (the contract Ansible relies on):
//! `{"changed": bool, "changes": [...], "warnings": [...], "error": null|{...}}`.

use serde::Serialize;

use super::plan::Change;

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub changed: bool,
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
    pub error: Option<ErrorReport>,
    /// Extra data of a command (`site show`, `status`), merged into the JSON object.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    #[serde(skip)]
    pub dry_run: bool,
    /// Shown once to a person at a terminal, never in `--json` (a new WordPress admin password).
    #[serde(skip)]
    pub secrets_shown_once: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ErrorReport {
    pub message: String,
    /// `invalid-input` (exit 2) or `failure` (exit 1).
    pub kind: &'static str,
    pub exit_code: u8,
}
