//! restic driven as an external program: repositories any stock `restic` can read. The password
//! reaches restic only through `RESTIC_PASSWORD_FILE`; S3 credentials come from the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).

pub(crate) mod excludes;
pub(crate) mod key;
pub(crate) mod lock;
pub(crate) mod tags;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::host::exec::Cmd;

/// One repository: the program, the repository (a real path or URL) and its password file.
#[derive(Debug, Clone)]
pub(crate) struct Restic {
    pub program: PathBuf,
    pub repository: String,
    pub password_file: PathBuf,
    pub cache_dir: PathBuf,
}

/// `message_type: summary` of `restic backup --json`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(crate) struct Summary {
    pub snapshot_id: String,
    #[serde(default)]
    pub data_added: u64,
    #[serde(default)]
    pub total_files_processed: u64,
    #[serde(default)]
    pub total_bytes_processed: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Snapshot {
    pub id: String,
    pub short_id: String,
    pub time: String,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub hostname: String,
}

impl Snapshot {
    /// The value of a `key=value` tag.
    pub(crate) fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find_map(|t| t.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }
}

/// How many snapshots of each kind a `forget` keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keep {
    pub last: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

impl Restic {
    pub(crate) fn cmd(&self) -> Cmd {
        Cmd::new(&self.program)
            .arg("--repo")
            .arg(&self.repository)
            .env("RESTIC_PASSWORD_FILE", self.password_file.as_os_str())
            .env("RESTIC_CACHE_DIR", self.cache_dir.as_os_str())
    }

    /// Whether the repository exists (its config can be read with the password). Read-only
    /// listings run without a repository lock: taking one costs restic a fixed 200 ms wait.
    pub(crate) fn exists(&self) -> bool {
        self.cat_config().is_ok()
    }

    /// Reads the repository's config with the password (`restic cat config`, no lock); the
    /// error quotes restic (unreachable, not a repository, wrong password).
    pub(crate) fn cat_config(&self) -> Result<(), crate::host::exec::ProcessError> {
        self.cmd()
            .args(["--no-lock", "cat", "config", "--quiet"])
            .run()
            .map(|_| ())
    }

    pub(crate) fn init(&self) -> Result<()> {
        self.cmd().args(["init", "--quiet"]).run()?;
        Ok(())
    }

    fn tag_args(tags: &[String]) -> Vec<OsString> {
        tags.iter()
            .flat_map(|t| [OsString::from("--tag"), OsString::from(t)])
            .collect()
    }

    /// The consumer of a stream stored as one file `name` (`restic backup --stdin`).
    pub(crate) fn backup_stdin_cmd(&self, name: &str, tags: &[String]) -> Cmd {
        self.cmd()
            .args([
                "backup",
                "--json",
                "--quiet",
                "--stdin",
                "--stdin-filename",
                name,
            ])
            .args(Self::tag_args(tags))
    }

    /// Snapshots carrying every tag of `tags`.
    pub(crate) fn snapshots(&self, tags: &[String]) -> Result<Vec<Snapshot>> {
        let mut filter = Vec::new();
        if !tags.is_empty() {
            filter = vec![OsString::from("--tag"), OsString::from(tags.join(","))];
        }
        let mut v = self.list_snapshots(filter)?;
        v.sort_by(|a, b| a.time.cmp(&b.time));
        Ok(v)
    }

    /// `restic snapshots --json` with `filter` (read-only: without a repository lock).
    fn list_snapshots(&self, filter: Vec<OsString>) -> Result<Vec<Snapshot>> {
        let out = self
            .cmd()
            .args(["--no-lock", "snapshots", "--json"])
            .args(filter)
            .run()?;
        serde_json::from_slice(&out.stdout).context("reading `restic snapshots --json`")
    }

    /// Forgets the snapshots `ids` (data is removed by the next `prune`).
    pub(crate) fn forget_ids(&self, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.cmd()
            .args(["forget", "--quiet", "--"])
            .args(ids)
            .run()?;
        Ok(())
    }

    /// Applies a retention policy to the snapshots carrying every tag of `tags`, as one group
    /// whichever host took them: a site moved between a fleet's hosts keeps one history.
    pub(crate) fn forget(&self, tags: &[String], keep: Keep) -> Result<()> {
        self.cmd()
            .args(["forget", "--quiet", "--group-by", "", "--tag"])
            .arg(tags.join(","))
            .args(["--keep-last", &keep.last.to_string()])
            .args(["--keep-daily", &keep.daily.to_string()])
            .args(["--keep-weekly", &keep.weekly.to_string()])
            .args(["--keep-monthly", &keep.monthly.to_string()])
            .run()?;
        Ok(())
    }

    /// Removes the data no snapshot refers to any more.
    pub(crate) fn prune(&self) -> Result<()> {
        self.cmd().args(["prune", "--quiet"]).run()?;
        Ok(())
    }

    /// Restores a snapshot under `target`, only the `includes` (real paths) when given.
    pub(crate) fn restore(&self, id: &str, target: &Path, includes: &[PathBuf]) -> Result<()> {
        let mut c = self
            .cmd()
            .args(["restore", id, "--quiet", "--target"])
            .arg(target.as_os_str());
        for i in includes {
            c = c.arg("--include").arg(i.as_os_str());
        }
        c.run()?;
        Ok(())
    }

    /// The producer of one file of a snapshot (`restic dump ID PATH`).
    pub(crate) fn dump_cmd(&self, id: &str, path: &str) -> Cmd {
        self.cmd().args(["dump", "--quiet", id, path])
    }

    /// `restic check`: `Ok(None)` when the repository is sound, else what restic said.
    pub(crate) fn check(&self, read_data: bool) -> Result<Option<String>> {
        let mut c = self.cmd().args(["check", "--quiet"]);
        if read_data {
            c = c.arg("--read-data");
        }
        let out = c.output()?;
        if out.status.success() {
            return Ok(None);
        }
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(Some(crate::host::exec::tail(text.trim(), 2048)))
    }
}

/// The summary line of `restic backup --json` output.
pub(crate) fn parse_summary(stdout: &[u8]) -> Result<Summary> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.contains("\"summary\""))
        .find_map(|l| serde_json::from_str::<Summary>(l).ok())
        .context("restic printed no backup summary")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_tags() {
        let out = b"{\"message_type\":\"status\"}\n{\"message_type\":\"summary\",\"data_added\":12,\"total_files_processed\":3,\"total_bytes_processed\":40,\"snapshot_id\":\"abcd1234\"}\n";
        let s = parse_summary(out).unwrap();
        assert_eq!((s.snapshot_id.as_str(), s.data_added), ("abcd1234", 12));
        let snap = Snapshot {
            id: "x".into(),
            short_id: "x".into(),
            time: String::new(),
            paths: vec![],
            tags: vec!["site=a.test".into(), "part=db".into()],
            hostname: String::new(),
        };
        assert_eq!(snap.tag("site"), Some("a.test"));
        assert_eq!(snap.tag("part"), Some("db"));
        assert_eq!(snap.tag("run"), None);
    }
}
