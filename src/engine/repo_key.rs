//! The fast key of a backup repository lempctl initialised (see `services::restic_key` for why):
//! right after `restic init`, restic's calibrated key is re-sealed with cheap scrypt parameters and
//! restic itself, opening the repository with the new key, removes the old one.
//! Invariant: the repository always has a key that opens with the password. The new key is written
//! first; restic refuses to remove the key it opened with, so a new key restic cannot open leaves
//! the old key in place (and the new one is deleted).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::config::global::BackupGlobal;
use crate::host::{Journal, Root};
use crate::services::restic::Restic;
use crate::services::restic_key::{self, FAST};
use crate::services::s3::Objects;

/// Where the repository's `keys/` files are.
enum Keys<'a> {
    Local {
        root: &'a Root,
        dir: PathBuf,
    },
    S3 {
        objects: Objects,
        rt: tokio::runtime::Runtime,
    },
}

impl Keys<'_> {
    fn list(&self) -> Result<Vec<String>> {
        match self {
            Keys::Local { root, dir } => {
                let mut v = Vec::new();
                for e in std::fs::read_dir(root.path(dir)).context("reading the repository keys")? {
                    v.push(e?.file_name().to_string_lossy().into_owned());
                }
                Ok(v)
            }
            Keys::S3 { objects, rt } => rt.block_on(objects.list("keys")),
        }
    }

    fn get(&self, id: &str) -> Result<Vec<u8>> {
        match self {
            Keys::Local { root, dir } => root
                .read(&dir.join(id))?
                .with_context(|| format!("repository key {id} vanished")),
            Keys::S3 { objects, rt } => rt.block_on(objects.get(&format!("keys/{id}"))),
        }
    }

    fn put(&self, id: &str, bytes: &[u8]) -> Result<()> {
        match self {
            // restic keeps its files read-only
            Keys::Local { root, dir } => root.write_private(&dir.join(id), bytes, 0o400),
            Keys::S3 { objects, rt } => {
                rt.block_on(objects.put(&format!("keys/{id}"), bytes.to_vec()))
            }
        }
    }

    fn delete(&self, id: &str) -> Result<()> {
        match self {
            Keys::Local { root, dir } => root.remove(&mut Journal::default(), &dir.join(id)),
            Keys::S3 { objects, rt } => rt.block_on(objects.delete(&format!("keys/{id}"))),
        }
    }
}

/// Re-seals the single key of a freshly initialised repository with the fast parameters when the
/// password has the generated form. Returns whether it did.
pub fn make_fast(root: &Root, cfg: &BackupGlobal, restic: &Restic) -> Result<bool> {
    let password = root
        .read(&cfg.password_file)?
        .context("the repository password")?;
    let password = String::from_utf8_lossy(&password)
        .trim_end_matches(['\r', '\n'])
        .to_owned();
    if !restic_key::generated_form(&password) {
        return Ok(false);
    }
    let keys = match cfg.local_path() {
        Some(p) => Keys::Local {
            root,
            dir: p.join("keys"),
        },
        None => {
            let rt = super::database::runtime()?;
            let url = cfg
                .repository
                .strip_prefix("s3:")
                .context("an s3: repository")?;
            let objects = rt.block_on(Objects::from_url(url))?;
            Keys::S3 { objects, rt }
        }
    };
    let ids = keys.list()?;
    let [old] = ids.as_slice() else {
        bail!("the new repository has {} keys, expected 1", ids.len());
    };
    let current = keys.get(old)?;
    if restic_key::kdf_of(&current)? == FAST {
        return Ok(false);
    }
    let master = restic_key::open(&current, password.as_bytes())?;
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sealed = restic_key::seal(&master, password.as_bytes(), FAST, "lempctl", &host)?;
    keys.put(&sealed.id, &sealed.bytes)?;
    let removed = restic
        .cmd()
        .env("RESTIC_KEY_HINT", &sealed.id)
        .args(["key", "remove", "--quiet", old])
        .run();
    if let Err(e) = removed {
        keys.delete(&sealed.id)?;
        return Err(e).context("restic did not accept the re-sealed key; the original key is kept");
    }
    Ok(true)
}
