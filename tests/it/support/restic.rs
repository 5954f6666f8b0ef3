//! Plain restic on a sandbox's repository, with lempctl's password file: reads what lempctl wrote
//! the way an operator would.

use std::path::Path;

use super::Sandbox;

/// restic on `repo` with the password file `password` of lempctl's backup directory.
pub fn restic_command(
    sb: &Sandbox,
    repo: impl AsRef<std::ffi::OsStr>,
    password: &str,
    args: &[&str],
) -> std::process::Command {
    let mut c = std::process::Command::new("restic");
    c.arg("-r")
        .arg(repo)
        .args(args)
        .env(
            "RESTIC_PASSWORD_FILE",
            sb.path(&format!("/var/lib/lempctl/backup/{password}")),
        )
        .env("RESTIC_CACHE_DIR", sb.path("/tmp/restic-cache"));
    c
}

pub fn restic(sb: &Sandbox, repo: &Path, args: &[&str]) -> std::process::Output {
    restic_command(sb, repo, "lempctl.password", args)
        .output()
        .unwrap()
}
