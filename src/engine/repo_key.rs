//! The fast key of a backup repository lempctl initialised (see `services::restic::key` for why):
//! right after `restic init`, restic's calibrated key is re-sealed with cheap scrypt parameters and
//! restic itself, opening the repository with the new key, removes the old one.
//! Invariant: the repository always has a key that opens with the password. The new key is written
//! first; restic refuses to remove the key it opened with, so a new key restic cannot open leaves
//! the old key in place (and the new one is deleted).

use anyhow::{Context, Result, bail};

use super::repo_files::RepoFiles;
use crate::config::global::BackupGlobal;
use crate::host::Root;
use crate::services::restic::Restic;
use crate::services::restic::key::{self as restic_key, FAST};

/// The repository password, as restic reads its password file (without the line end).
pub(crate) fn password(root: &Root, cfg: &BackupGlobal) -> Result<String> {
    let password = root
        .read(&cfg.password_file)?
        .context("the repository password")?;
    Ok(String::from_utf8_lossy(&password)
        .trim_end_matches(['\r', '\n'])
        .to_owned())
}

/// Where lempctl records that it generated the repository password itself: the password's
/// SHA-256, beside it. Only such a password (CSPRNG, 48 characters) may have a cheap key; one an
/// admin chose, however random it looks, keeps restic's calibrated key.
pub(crate) fn generated_record(cfg: &BackupGlobal) -> std::path::PathBuf {
    let mut name = cfg
        .password_file
        .file_name()
        .unwrap_or_default()
        .to_os_string();
    name.push(".generated");
    cfg.password_file.with_file_name(name)
}

pub(crate) fn record_generated(root: &Root, cfg: &BackupGlobal, password: &str) -> Result<()> {
    root.write_private(&generated_record(cfg), digest(password).as_bytes(), 0o600)
}

fn digest(password: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(password.as_bytes()))
}

/// Re-seals the single key of a freshly initialised repository with the fast parameters when
/// lempctl generated the password (see `generated_record`). Returns whether it did.
pub(crate) fn make_fast(root: &Root, cfg: &BackupGlobal, restic: &Restic) -> Result<bool> {
    let password = password(root, cfg)?;
    let recorded = root.read(&generated_record(cfg))?;
    if !restic_key::generated_form(&password)
        || recorded.as_deref() != Some(digest(&password).as_bytes())
    {
        return Ok(false);
    }
    let keys = RepoFiles::open(root, cfg)?;
    let ids = keys.list("keys")?;
    let [old] = ids.as_slice() else {
        bail!("the new repository has {} keys, expected 1", ids.len());
    };
    let current = keys
        .get("keys", old)?
        .with_context(|| format!("repository key {old} vanished"))?;
    if restic_key::kdf_of(&current)? == FAST {
        return Ok(false);
    }
    let master = restic_key::open(&current, password.as_bytes())?;
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sealed = restic_key::seal(&master, password.as_bytes(), FAST, "lempctl", &host)?;
    keys.put("keys", &sealed.id, &sealed.bytes)?;
    let removed = restic
        .cmd()
        .env("RESTIC_KEY_HINT", &sealed.id)
        .args(["key", "remove", "--quiet", old])
        .run();
    if let Err(e) = removed {
        keys.delete("keys", &sealed.id)?;
        return Err(e).context("restic did not accept the re-sealed key; the original key is kept");
    }
    Ok(true)
}
