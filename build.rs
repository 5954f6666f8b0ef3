//! Sets `LEMPCTL_VERSION`, what `lempctl --version` prints: the package version and the git
//! commit it was built from, e.g. `0.1.0-1 (commit 1a2b3c4d5e6f)`.
//!
//! - package version: `LEMPCTL_PKG_VERSION` (set by `scripts/build-deb` to the Debian version),
//!   else the crate's version;
//! - commit: `LEMPCTL_GIT_COMMIT`, else `git rev-parse --short=12 HEAD`, else `unknown` (a
//!   source tarball without git).
// A build script runs before the crate exists: it cannot use `host::exec`.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=LEMPCTL_PKG_VERSION");
    println!("cargo:rerun-if-env-changed=LEMPCTL_GIT_COMMIT");
    let package = std::env::var("LEMPCTL_PKG_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| std::env::var("CARGO_PKG_VERSION").unwrap_or_default());
    let commit = std::env::var("LEMPCTL_GIT_COMMIT")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    // Rebuilt when HEAD moves: HEAD itself, the branch it names, and packed refs (paths as git
    // gives them, which also works in a worktree). Only existing files: a missing one would
    // rerun this script on every build.
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    for path in watched.into_iter().flatten().map(PathBuf::from) {
        if path.is_file() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rustc-env=LEMPCTL_VERSION={package} (commit {commit})");
}
