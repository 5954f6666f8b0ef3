//! System users and groups: lookups with nix, creation and removal with useradd/userdel via exec.

use std::cell::RefCell;
use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use nix::unistd::{Group, User};

// Lookups scan /etc/passwd and /etc/group; a run over 1,000 sites asks thousands of times, so
// answers are remembered for the process and forgotten when lempctl adds or removes an account.
thread_local! {
    static USERS: RefCell<HashMap<String, Option<(u32, String)>>> = RefCell::new(HashMap::new());
    static GROUPS: RefCell<HashMap<String, Option<u32>>> = RefCell::new(HashMap::new());
    // The two files read once (`getpwnam` reads /etc/passwd anew for every name: 1,000 site users
    // asked of a 1,000-line file), when NSS reads them first. A name they lack is asked of NSS.
    static FILES: RefCell<Option<Option<Files>>> = const { RefCell::new(None) };
}

#[derive(Default)]
struct Files {
    users: HashMap<String, (u32, String)>,
    groups: HashMap<String, u32>,
}

/// Whether NSS answers `database` from the local files before any other source.
fn files_first(nsswitch: &str, database: &str) -> bool {
    nsswitch.lines().any(|l| {
        l.strip_prefix(database)
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|r| r.split_whitespace().next())
            == Some("files")
    })
}

/// `name:x:id:…` lines of /etc/passwd or /etc/group, first entry of a name winning (as glibc's
/// `files` source answers).
fn entries(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    text.lines().filter_map(|l| {
        let fields: Vec<&str> = l.split(':').collect();
        let id = fields.get(2)?.parse().ok()?;
        (fields.len() >= 4 && !fields[0].is_empty()).then(|| (fields[0], id, fields))
    })
}

fn load_files() -> Option<Files> {
    let nsswitch = std::fs::read_to_string("/etc/nsswitch.conf").ok()?;
    if !files_first(&nsswitch, "passwd") || !files_first(&nsswitch, "group") {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let group = std::fs::read_to_string("/etc/group").ok()?;
    let mut f = Files::default();
    for (name, uid, fields) in entries(&passwd) {
        let gecos = fields.get(4).copied().unwrap_or_default().to_owned();
        f.users.entry(name.to_owned()).or_insert((uid, gecos));
    }
    for (name, gid, _) in entries(&group) {
        f.groups.entry(name.to_owned()).or_insert(gid);
    }
    Some(f)
}

/// What the local files say of a name, when they are read first.
fn from_files<T>(get: impl FnOnce(&Files) -> Option<T>) -> Option<T> {
    FILES.with(|c| {
        let mut c = c.borrow_mut();
        c.get_or_insert_with(load_files).as_ref().and_then(get)
    })
}

fn user(name: &str) -> Result<Option<(u32, String)>> {
    if let Some(hit) = USERS.with(|c| c.borrow().get(name).cloned()) {
        return Ok(hit);
    }
    let found = match from_files(|f| f.users.get(name).cloned()) {
        Some(entry) => Some(entry),
        None => User::from_name(name)
            .with_context(|| format!("looking up user `{name}`"))?
            .map(|u| (u.uid.as_raw(), u.gecos.to_string_lossy().into_owned())),
    };
    USERS.with(|c| c.borrow_mut().insert(name.to_owned(), found.clone()));
    Ok(found)
}

fn group(name: &str) -> Result<Option<u32>> {
    if let Some(hit) = GROUPS.with(|c| c.borrow().get(name).copied()) {
        return Ok(hit);
    }
    let found = match from_files(|f| f.groups.get(name).copied()) {
        Some(gid) => Some(gid),
        None => Group::from_name(name)
            .with_context(|| format!("looking up group `{name}`"))?
            .map(|g| g.gid.as_raw()),
    };
    GROUPS.with(|c| c.borrow_mut().insert(name.to_owned(), found));
    Ok(found)
}

fn forget(name: &str) {
    USERS.with(|c| c.borrow_mut().remove(name));
    GROUPS.with(|c| c.borrow_mut().remove(name));
    // the files changed: read them again when next asked
    FILES.with(|c| c.borrow_mut().take());
}

/// The GECOS (comment) field of a user, when it exists.
pub(crate) fn gecos(name: &str) -> Result<Option<String>> {
    Ok(user(name)?.map(|(_, g)| g))
}

use super::exec::Cmd;

/// uid and gid of a user and group name (numeric strings are taken as ids).
pub(crate) fn resolve(user_name: &str, group_name: &str) -> Result<(u32, u32)> {
    let uid = match user_name.parse::<u32>() {
        Ok(n) => n,
        Err(_) => {
            user(user_name)?
                .with_context(|| format!("user `{user_name}` does not exist"))?
                .0
        }
    };
    let gid = match group_name.parse::<u32>() {
        Ok(n) => n,
        Err(_) => {
            group(group_name)?.with_context(|| format!("group `{group_name}` does not exist"))?
        }
    };
    Ok((uid, gid))
}

/// True when a user of that name exists.
pub(crate) fn user_exists(name: &str) -> Result<bool> {
    Ok(user(name)?.is_some())
}

/// Creates a locked user with its own group, no login shell and no home creation, with ids in
/// `ids` (a range of its own: Debian's system range 100-999 holds fewer than 1,000 users).
pub(crate) fn create_system_user(
    useradd: &std::path::Path,
    name: &str,
    home: &std::path::Path,
    ids: (u32, u32),
) -> Result<()> {
    let (lo, hi) = ids;
    Cmd::new(useradd)
        .args([
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--home-dir",
        ])
        .arg(home)
        .arg("--comment")
        .arg("lempctl site user")
        .args([
            "-K",
            &format!("UID_MIN={lo}"),
            "-K",
            &format!("UID_MAX={hi}"),
            "-K",
            &format!("GID_MIN={lo}"),
            "-K",
            &format!("GID_MAX={hi}"),
        ])
        .arg(name)
        .run()
        .inspect_err(|_| forget(name))?;
    forget(name);
    if !user_exists(name)? {
        bail!("useradd reported success but user `{name}` does not exist");
    }
    Ok(())
}

/// Removes a user (and its private group) created by lempctl.
pub(crate) fn remove_user(userdel: &std::path::Path, name: &str) -> Result<()> {
    if !user_exists(name)? {
        return Ok(());
    }
    Cmd::new(userdel).arg(name).run()?;
    forget(name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_are_read_only_when_nss_reads_them_first() {
        assert!(files_first(
            "# x\npasswd:         files systemd\n",
            "passwd"
        ));
        assert!(!files_first("passwd: sss files\n", "passwd"));
        assert!(!files_first("passwd: compat\n", "passwd"));
        assert!(!files_first("passwdx: files\n", "passwd"));
        assert!(!files_first("group: files\n", "passwd"));
    }

    #[test]
    fn entries_keep_the_first_of_a_name_and_skip_broken_lines() {
        let text = "root:x:0:0:root:/root:/bin/bash\nbroken\nw_a:x:5001:5001:lempctl site user:/srv/www/a:/usr/sbin/nologin\nw_a:x:9:9::/:/bin/sh\nbad:x:notanumber:1::/:\n";
        let got: Vec<(&str, u32)> = entries(text).map(|(n, id, _)| (n, id)).collect();
        assert_eq!(got, [("root", 0), ("w_a", 5001), ("w_a", 9)]);
        let files = {
            let mut f = Files::default();
            for (name, uid, fields) in entries(text) {
                f.users
                    .entry(name.to_owned())
                    .or_insert((uid, fields[4].to_owned()));
            }
            f
        };
        assert_eq!(
            files.users["w_a"],
            (5001, "lempctl site user".to_owned()),
            "the first entry of a name wins, as with glibc"
        );
    }
}
