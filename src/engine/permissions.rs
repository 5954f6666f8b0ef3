//! The owners and modes lempctl gives to what must stay private — its state and credentials, the
//! backup password, TLS keys, other credential files the configuration names — and to the root
//! of each site tree, compared with the host.
//!
//! Site trees belong to site users, who may plant links: every path is reached one descriptor at
//! a time from the root (`Root::open_dir`, links followed only when root made them in a
//! root-only directory) and the last name is `lstat`ed, never followed. Only a site's own
//! directory and a few known entries in it are looked at, never the whole tree.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::{Config, SiteKind};
use crate::host::Root;
use crate::host::walk::{self, WalkError};

/// Who must own a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    Root,
    /// A site's user: its name, and its uid on the host (`None` while the user does not exist:
    /// the owner is then not compared).
    User(String, Option<u32>),
}

impl Owner {
    fn name(&self) -> &str {
        match self {
            Owner::Root => "root",
            Owner::User(u, _) => u,
        }
    }

    fn uid(&self) -> Option<u32> {
        match self {
            Owner::Root => Some(0),
            Owner::User(_, uid) => *uid,
        }
    }
}

/// A path and the most lempctl allows on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expected {
    /// Host path.
    pub path: PathBuf,
    pub dir: bool,
    /// The permission bits allowed at most (`0o600`); any other bit is too permissive.
    pub mode: u32,
    pub owner: Owner,
}

/// What is wrong with one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Bits beyond the allowed ones are set: the current mode.
    TooOpen { mode: u32 },
    /// Another user owns it (uid).
    Owner { uid: u32 },
    /// A symbolic link (or another kind of file) stands where a file or directory should be.
    WrongKind { kind: &'static str },
    /// The way to it is blocked (an untrusted link on the way, an I/O error).
    Unreachable(String),
}

/// Every path to compare, for the configuration (site paths only for sites whose directory
/// exists; absent files are skipped by `check`).
pub(crate) fn expected(root: &Root, config: &Config) -> Vec<Expected> {
    let g = &config.global;
    let root_file = |path: PathBuf, mode| Expected {
        path,
        dir: false,
        mode,
        owner: Owner::Root,
    };
    let root_dir = |path: PathBuf, mode| Expected {
        path,
        dir: true,
        mode,
        owner: Owner::Root,
    };
    let state = &g.paths.state_dir;
    let credentials = state.join("credentials");
    let mut out = vec![
        root_dir(state.clone(), 0o700),
        root_dir(credentials.clone(), 0o700),
        root_file(g.paths.state_file(), 0o600),
        root_file(state.join("acme/account.json"), 0o600),
    ];
    // every site's secrets, also those of sites removed since (the directory is root's)
    if let Ok(entries) = std::fs::read_dir(root.path(&credentials)) {
        let mut names: Vec<OsString> = entries
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        out.extend(
            names
                .into_iter()
                .map(|n| root_file(credentials.join(n), 0o600)),
        );
    }
    if let Some(b) = &g.backup {
        out.push(root_file(b.password_file.clone(), 0o600));
    }
    if let crate::config::global::DbAdmin::Tcp {
        credentials_file, ..
    } = &g.database.admin
    {
        out.push(root_file(credentials_file.clone(), 0o600));
    }
    if let Some(f) = g.alerts.as_ref().and_then(|a| a.credentials_file.clone()) {
        out.push(root_file(f, 0o600));
    }
    if let Some(f) = &g.s3.credentials_file {
        out.push(root_file(f.clone(), 0o600));
    }
    let certs = state.join("certs");
    for site in &config.sites {
        if let Some(t) = &site.tls {
            if t.key.starts_with(&certs) {
                if let Some(dir) = t.key.parent() {
                    out.push(root_dir(dir.to_path_buf(), 0o700));
                }
                out.push(root_file(t.key.clone(), 0o600));
            } else {
                // keys from elsewhere: root's, readable by a group at most (Debian's ssl-cert)
                out.push(root_file(t.key.clone(), 0o640));
            }
        }
        let p = &site.paths;
        if !root.path(&p.site_dir).is_dir() {
            continue;
        }
        let uid = nix::unistd::User::from_name(&site.user)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw());
        let user = |path: &Path, dir, mode| Expected {
            path: path.to_path_buf(),
            dir,
            mode,
            owner: Owner::User(site.user.clone(), uid),
        };
        out.push(user(&p.site_dir, true, 0o750));
        out.push(user(&p.logs_dir, true, 0o750));
        if site.kind.uses_php() {
            for d in [&p.tmp_dir, &p.sessions_dir, &p.upload_tmp_dir] {
                out.push(user(d, true, 0o700));
            }
        }
        if site.kind == SiteKind::Wordpress {
            out.push(user(&p.document_root.join("wp-config.php"), false, 0o600));
        }
    }
    out.dedup_by(|a, b| a.path == b.path);
    out
}

/// The problems of one path (none when it does not exist: creating it is `apply`'s work).
pub(crate) fn check(root: &Root, e: &Expected) -> Vec<Problem> {
    let (Some(parent), Some(name)) = (e.path.parent(), e.path.file_name()) else {
        return Vec::new();
    };
    let dir = match root.open_dir(parent) {
        Ok(fd) => fd,
        Err(WalkError::NotFound(_)) => return Vec::new(),
        Err(err) => return vec![Problem::Unreachable(err.to_string())],
    };
    let st = match walk::lstat_at(&dir, name) {
        Ok(Some(st)) => st,
        Ok(None) => return Vec::new(),
        Err(err) => return vec![Problem::Unreachable(err.to_string())],
    };
    let kind = walk::file_type(&st);
    let wanted = if e.dir {
        rustix::fs::FileType::Directory
    } else {
        rustix::fs::FileType::RegularFile
    };
    if kind != wanted {
        return vec![Problem::WrongKind {
            kind: walk::kind_name(kind),
        }];
    }
    let mut out = Vec::new();
    let mode = st.st_mode & 0o7777;
    if mode & 0o777 & !e.mode != 0 {
        out.push(Problem::TooOpen { mode });
    }
    if e.owner.uid().is_some_and(|uid| uid != st.st_uid) {
        out.push(Problem::Owner { uid: st.st_uid });
    }
    out
}

/// The problem in one line, and the command that fixes it (with the real path).
pub(crate) fn describe(root: &Root, e: &Expected, p: &Problem) -> (String, String) {
    let real = root.path(&e.path);
    let shown = real.display();
    match p {
        Problem::TooOpen { mode } => (
            format!(
                "{shown} is mode {mode:04o}; lempctl allows at most {:04o}",
                e.mode
            ),
            format!("chmod {:o} {shown}", e.mode),
        ),
        Problem::Owner { uid } => (
            format!("{shown} is owned by uid {uid}, not {}", e.owner.name()),
            format!("chown {} {shown}", e.owner.name()),
        ),
        Problem::WrongKind { kind } => (
            format!(
                "{shown} is a {kind}, not a {} (a site user may have planted it)",
                if e.dir { "directory" } else { "regular file" }
            ),
            format!("look at it, remove it (`rm {shown}`), then `lempctl apply` recreates it"),
        ),
        Problem::Unreachable(why) => (
            format!("{shown} cannot be checked: {why}"),
            "remove the symbolic link on the way (a site user may have planted it), then `lempctl apply`".to_owned(),
        ),
    }
}
