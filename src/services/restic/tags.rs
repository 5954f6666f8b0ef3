//! The tags lempctl gives its snapshots: `lempctl`, `site=<name>`, `run=<id>`,
//! `part=files|db`, `host=<host name>` (a fleet's hosts share one repository), `safety` or
//! `reason=final` for the kind of run, and on a files snapshot `db=<id>` naming the dump the
//! run refers to.

use super::Snapshot;

/// Every snapshot lempctl takes carries it.
pub(crate) const LEMPCTL: &str = "lempctl";
/// A run taken before an in-place restore.
pub(crate) const SAFETY: &str = "safety";
/// A run taken before data is destroyed.
pub(crate) const FINAL: &str = "reason=final";

/// The tags of one part of a run; `marker` is `SAFETY`, `FINAL` or none.
pub(crate) fn of_run(site: &str, run: &str, part: &str, marker: Option<&str>) -> Vec<String> {
    let mut t = vec![
        LEMPCTL.to_owned(),
        format!("site={site}"),
        format!("run={run}"),
        format!("part={part}"),
        format!("host={}", crate::host::machine::hostname()),
    ];
    t.extend(marker.map(str::to_owned));
    t
}

/// The filter of every lempctl snapshot, of one site when given.
pub(crate) fn of_site(site: Option<&str>) -> Vec<String> {
    let mut t = vec![LEMPCTL.to_owned()];
    t.extend(site.map(|s| format!("site={s}")));
    t
}

/// The filter of a site's files snapshots (its runs).
pub(crate) fn files_of(site: &str) -> Vec<String> {
    vec![
        LEMPCTL.to_owned(),
        format!("site={site}"),
        "part=files".to_owned(),
    ]
}

/// The tag of a files snapshot naming the dump its run refers to.
pub(crate) fn dump_ref(snapshot: &str) -> String {
    format!("db={snapshot}")
}

/// Whether `tags` are those of a dump of `site`.
pub(crate) fn is_dump_of(tags: &[String], site: &str) -> bool {
    tags.iter().any(|t| *t == format!("site={site}")) && tags.iter().any(|t| t == "part=db")
}

impl Snapshot {
    pub(crate) fn site(&self) -> Option<&str> {
        self.tag("site")
    }

    pub(crate) fn run(&self) -> Option<&str> {
        self.tag("run")
    }

    pub(crate) fn part(&self) -> Option<&str> {
        self.tag("part")
    }

    /// The host that took the snapshot: its `host=` tag, else restic's own host name (runs
    /// taken before lempctl tagged them).
    pub(crate) fn host(&self) -> &str {
        self.tag("host").unwrap_or(&self.hostname)
    }

    /// The dump a files snapshot refers to (a prefix of its id).
    pub(crate) fn dump_ref(&self) -> Option<&str> {
        self.tag("db")
    }

    pub(crate) fn is_safety(&self) -> bool {
        self.tags.iter().any(|t| t == SAFETY)
    }

    pub(crate) fn is_final(&self) -> bool {
        self.tags.iter().any(|t| t == FINAL)
    }
}
