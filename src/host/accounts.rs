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
}

fn user(name: &str) -> Result<Option<(u32, String)>> {
    if let Some(hit) = USERS.with(|c| c.borrow().get(name).cloned()) {
        return Ok(hit);
    }
    let found = User::from_name(name)
        .with_context(|| format!("looking up user `{name}`"))?
        .map(|u| (u.uid.as_raw(), u.gecos.to_string_lossy().into_owned()));
    USERS.with(|c| c.borrow_mut().insert(name.to_owned(), found.clone()));
    Ok(found)
}

fn group(name: &str) -> Result<Option<u32>> {
    if let Some(hit) = GROUPS.with(|c| c.borrow().get(name).copied()) {
        return Ok(hit);
    }
    let found = Group::from_name(name)
        .with_context(|| format!("looking up group `{name}`"))?
        .map(|g| g.gid.as_raw());
    GROUPS.with(|c| c.borrow_mut().insert(name.to_owned(), found));
    Ok(found)
}

fn forget(name: &str) {
    USERS.with(|c| c.borrow_mut().remove(name));
    GROUPS.with(|c| c.borrow_mut().remove(name));
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
