//! `backup`: the repository every site is backed up to, and the host-wide default schedule.

use std::path::{Path, PathBuf};

use crate::config::check::Ctx;
use crate::config::values::safe_token;

/// Default exclude globs of a site backup (see `docs/backups.md`).
pub const DEFAULT_BACKUP_EXCLUDES: &[&str] = &[
    "/tmp",
    "/sessions",
    "/upload-tmp",
    "wp-content/cache",
    ".cache",
    "*.log",
];

/// The repository every site is backed up to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupGlobal {
    /// A local path (host path, mapped under `--root`) or a restic URL such as `s3:http://host:9000/bucket/prefix`.
    pub repository: String,
    /// Host path of the repository password (generated on first use, 0600).
    pub password_file: PathBuf,
    /// Globs relative to a site's directory: `/x` is anchored at the site directory, `x` matches at any depth.
    pub exclude: Vec<String>,
    /// node_exporter textfile collector directory for `lempctl_backup.prom`.
    pub textfile_dir: Option<PathBuf>,
    pub restic: PathBuf,
    pub mariadb: PathBuf,
    /// `backup.sites`: the policy of sites without a `backup` section of their own.
    pub site_default: Option<crate::config::backup::SiteBackup>,
}

impl BackupGlobal {
    /// A local repository (a host path), or `None` for a remote URL.
    pub fn local_path(&self) -> Option<PathBuf> {
        self.repository
            .starts_with('/')
            .then(|| PathBuf::from(&self.repository))
    }
}

/// A valid exclude glob: path components of letters, digits and `-_.*?`, no `..`, no `**`.
pub fn valid_exclude(s: &str) -> bool {
    let body = s.strip_prefix('/').unwrap_or(s).trim_end_matches('/');
    !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.*?/".contains(c))
        && body
            .split('/')
            .all(|c| !c.is_empty() && c != ".." && c != "." && !c.contains("**"))
}

pub(super) fn section(
    ctx: &mut Ctx<'_>,
    b: crate::config::file::BackupGlobalFile,
    state_dir: &Path,
) -> Option<BackupGlobal> {
    let Some(repo) = &b.repository else {
        if let Some(v) = b.password_file.as_ref().or(b.textfile_dir.as_ref()) {
            ctx.err(
                v,
                "backup.repository",
                "a `backup` section needs a `repository`",
                Some("an absolute path, or `s3:http(s)://host:port/bucket/prefix`"),
            );
        }
        return None;
    };
    let r = repo.value.trim_end_matches('/').to_owned();
    let ok = if r.starts_with('/') {
        safe_token(&r) && !r.contains("/../") && !r.ends_with("/..")
    } else if let Some(url) = r.strip_prefix("s3:") {
        (url.starts_with("http://") || url.starts_with("https://"))
            && safe_token(url)
            && url.split('/').count() >= 4
    } else {
        false
    };
    if !ok {
        ctx.err(
            repo,
            "backup.repository",
            format!("`{}` is not a repository lempctl can use", repo.value),
            Some("an absolute path, or `s3:http(s)://host:port/bucket/prefix`"),
        );
        return None;
    }
    let name: String = r
        .rsplit('/')
        .next()
        .unwrap_or("repository")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();
    let name = if name.is_empty() || name.starts_with('.') {
        "repository".to_owned()
    } else {
        name
    };
    let default_pw = state_dir.join("backup").join(format!("{name}.password"));
    let password_file = ctx.path(
        b.password_file.as_ref(),
        "backup.password_file",
        &default_pw.to_string_lossy(),
    );
    let mut exclude = Vec::new();
    match &b.exclude {
        None => exclude.extend(DEFAULT_BACKUP_EXCLUDES.iter().map(|s| (*s).to_owned())),
        Some(list) => {
            for (i, v) in list.iter().enumerate() {
                if valid_exclude(&v.value) {
                    exclude.push(v.value.trim_end_matches('/').to_owned());
                } else {
                    ctx.err(v, &format!("backup.exclude[{i}]"), format!("`{}` is not an exclude glob lempctl accepts", v.value), Some("a relative path glob of letters, digits and `-_.*?/` (`*.log`, `wp-content/cache`); a leading `/` anchors it at the site directory"));
                }
            }
        }
    }
    let textfile_dir = b.textfile_dir.as_ref().map(|v| {
        ctx.path(
            Some(v),
            "backup.textfile_dir",
            "/var/lib/prometheus/node-exporter",
        )
    });
    Some(BackupGlobal {
        repository: r,
        password_file,
        exclude,
        textfile_dir,
        restic: ctx.path(b.restic.as_ref(), "backup.restic", "/usr/bin/restic"),
        mariadb: ctx.path(b.mariadb.as_ref(), "backup.mariadb", "/usr/bin/mariadb"),
        site_default: b
            .sites
            .as_ref()
            .filter(|s| s.enabled != Some(false))
            .and_then(|s| crate::config::backup::site_backup(ctx, s, "backup.sites")),
    })
}
