//! Resources: what the host should hold for the desired state. Produced by `desire`, compared with
//! the disk by `plan`.

use std::path::PathBuf;

use crate::host::Perms;
use crate::host::service_manager::Service;

/// What a changed file means for validation and reloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Affects {
    Nothing,
    Service(Service),
    /// Every PHP-FPM master of a version (their shared ini directory); recorded with the first.
    Services(Vec<Service>),
    /// A systemd unit or drop-in (`systemd-analyze verify`, daemon-reload).
    Unit(String),
}

impl Affects {
    /// The service to record with a file (`state::FileRecord::service`).
    pub(crate) fn service(&self) -> Option<Service> {
        match self {
            Affects::Service(s) => Some(s.clone()),
            Affects::Services(s) => s.first().cloned(),
            Affects::Nothing | Affects::Unit(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Resource {
    /// A system user (with its own group) a site's PHP runs as.
    User {
        name: String,
        home: PathBuf,
        site: String,
    },
    /// A directory with explicit owner and mode.
    Dir {
        path: PathBuf,
        perms: Perms,
        site: Option<String>,
    },
    /// A file lempctl owns: recorded in the state, drift-checked, removed with its site.
    File {
        path: PathBuf,
        contents: Vec<u8>,
        perms: Perms,
        site: Option<String>,
        affects: Affects,
    },
    /// A file created once when absent and then left to the user (placeholder pages).
    Seed {
        path: PathBuf,
        contents: Vec<u8>,
        perms: Perms,
        site: String,
    },
    /// A root-only secrets file: written when its content changes, never shown in diffs.
    Secret {
        path: PathBuf,
        contents: Vec<u8>,
        site: String,
    },
    /// WordPress core copied into a site's document root (once; afterwards it is the site's own).
    WpCore {
        site: String,
        source: PathBuf,
        sha256: Option<String>,
        dest: PathBuf,
        stage: PathBuf,
        dir_perms: Perms,
        file_perms: Perms,
    },
    /// WordPress installed into the site's database (once: tables present = installed).
    WpInstall {
        site: String,
        database: String,
        table: String,
    },
    /// A log file a service appends to: created empty when absent, owner and mode kept, content
    /// never read or touched (nginx creates a missing log world-readable).
    LogFile {
        path: PathBuf,
        perms: Perms,
        site: Option<String>,
    },
    /// A symlink lempctl owns.
    Link {
        path: PathBuf,
        target: PathBuf,
        site: Option<String>,
        affects: Affects,
    },
}

/// What the host should hold: files and users, and the databases of the sites in scope.
#[derive(Debug, Default)]
pub(crate) struct Desired {
    pub resources: Vec<Resource>,
    pub db_specs: Vec<crate::services::mariadb::DbSpec>,
    /// `(database, table)` whose existence tells that a WordPress site is installed.
    pub wp_tables: Vec<(String, String)>,
}

/// What a planned change does to its target (the plan's vocabulary, shown in reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    Reload,
    /// One of lempctl's own PHP-FPM masters that `tuning.php_fpm_masters` adds (started once
    /// written, while its version's main master runs).
    Start,
    /// One of lempctl's own PHP-FPM masters that `tuning.php_fpm_masters` no longer has.
    Stop,
    Archive,
}
