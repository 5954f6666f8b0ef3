//! The host-wide lock: one run that changes the system at a time. An advisory `flock` on a file in
//! the state directory, holding the holder's pid so a refusal can name it.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

/// Another run holds the lock.
#[derive(Debug, thiserror::Error)]
#[error(
    "another lempctl run (pid {holder}) holds the lock {path}; waited {waited} s\n\nhint: wait for it to finish, or raise --wait"
)]
pub(crate) struct LockError {
    pub holder: String,
    pub path: String,
    pub waited: u64,
}

/// A held lock; released on drop.
#[derive(Debug)]
pub(crate) struct Lock {
    _file: Flock<File>,
}

/// Takes the lock, waiting up to `wait`.
// The lock file is root's own, in the state directory (0700), opened without truncation so a
// waiting run never empties the holder's pid: a named exception to "files through host::Root".
#[allow(clippy::disallowed_methods)]
pub(crate) fn acquire(path: &Path, wait: Duration) -> Result<Lock> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let start = Instant::now();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut locked) => {
                locked.set_len(0).context("truncating lock file")?;
                locked.rewind().context("rewinding lock file")?;
                write!(locked, "{}", std::process::id()).context("writing lock file")?;
                return Ok(Lock { _file: locked });
            }
            Err((f, _)) => {
                file = f;
                if start.elapsed() >= wait {
                    let mut holder = String::new();
                    let _ = file.rewind();
                    let _ = file.read_to_string(&mut holder);
                    return Err(LockError {
                        holder: holder.trim().to_owned(),
                        path: path.display().to_string(),
                        waited: start.elapsed().as_secs(),
                    }
                    .into());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
