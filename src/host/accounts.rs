//! System users and groups: lookups with nix, creation and removal with useradd/userdel via exec.

use anyhow::{Context, Result, bail};
use nix::unistd::{Group, User};

use super::exec::Cmd;

/// uid and gid of a user and group name (numeric strings are taken as ids).
pub fn resolve(user: &str, group: &str) -> Result<(u32, u32)> {
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => User::from_name(user)
            .with_context(|| format!("looking up user `{user}`"))?
            .with_context(|| format!("user `{user}` does not exist"))?
            .uid
            .as_raw(),
    };
    let gid = match group.parse::<u32>() {
        Ok(n) => n,
        Err(_) => Group::from_name(group)
            .with_context(|| format!("looking up group `{group}`"))?
            .with_context(|| format!("group `{group}` does not exist"))?
            .gid
            .as_raw(),
    };
    Ok((uid, gid))
}

/// True when a user of that name exists.
pub fn user_exists(name: &str) -> Result<bool> {
    Ok(User::from_name(name)
        .with_context(|| format!("looking up user `{name}`"))?
        .is_some())
}

/// True when a group of that name exists.
pub fn group_exists(name: &str) -> Result<bool> {
    Ok(Group::from_name(name)
        .with_context(|| format!("looking up group `{name}`"))?
        .is_some())
}

/// Creates a locked user with its own group, no login shell and no home creation, with ids in
/// `ids` (a range of its own: Debian's system range 100-999 holds fewer than 1,000 users).
pub fn create_system_user(
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
        .run()?;
    if !user_exists(name)? {
        bail!("useradd reported success but user `{name}` does not exist");
    }
    Ok(())
}

/// Removes a user (and its private group) created by lempctl.
pub fn remove_user(userdel: &std::path::Path, name: &str) -> Result<()> {
    if !user_exists(name)? {
        return Ok(());
    }
    Cmd::new(userdel).arg(name).run()?;
    Ok(())
}
