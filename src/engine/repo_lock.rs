//! restic's repository lock, held by lempctl while it writes snapshots in-process: a non-exclusive
//! lock, refused while restic's `prune`/`forget`/`check` hold an exclusive one, and seen by them
//! (they refuse to start) while lempctl writes. The protocol is restic's: check, write the lock,
//! check again; a lock is refreshed every 5 minutes and removed at the end.
//! restic probes whether a lock's process is alive by sending it SIGHUP (`restic unlock` does,
//! to find stale locks): a lock holder must survive that, so lempctl catches SIGHUP from taking
//! the lock until it exits (children it starts later get the default action back on exec).

use std::sync::Mutex;
use std::sync::mpsc;

use anyhow::{Context, Result, bail};

use super::repo_files::RepoFiles;
use crate::services::restic::key::{self as restic_key, MasterKey};
use crate::services::restic::lock::{self as restic_lock, Lock, REFRESH_EVERY};

const LOCKS: &str = "locks";

/// The repository's master key, opened with the password from its key files (the fast key
/// first: lempctl's repositories normally have only that one).
pub(crate) fn master_key(files: &RepoFiles, password: &[u8]) -> Result<MasterKey> {
    let mut keyfiles = Vec::new();
    for id in files.list("keys")? {
        if let Some(bytes) = files.get("keys", &id)? {
            let fast = restic_key::kdf_of(&bytes).is_ok_and(|k| k == restic_key::FAST);
            keyfiles.push((!fast, bytes));
        }
    }
    keyfiles.sort_by_key(|(slow, _)| *slow);
    for (_, bytes) in &keyfiles {
        if let Ok(json) = restic_key::open(bytes, password) {
            return MasterKey::from_json(&json);
        }
    }
    bail!(
        "none of the repository's {} keys opens with the password",
        keyfiles.len()
    )
}

/// An exclusive lock other than `own`, if any (stale ones count: restic leaves them to `restic
/// unlock`). Files that are not locks of this repository are ignored, as restic does.
fn exclusive_holder(
    files: &RepoFiles,
    master: &MasterKey,
    own: Option<&str>,
) -> Result<Option<Lock>> {
    for id in files.list(LOCKS)? {
        if Some(id.as_str()) == own {
            continue;
        }
        let Some(bytes) = files.get(LOCKS, &id)? else {
            continue;
        };
        match restic_lock::open(master, &bytes) {
            Ok(l) if l.exclusive => return Ok(Some(l)),
            Ok(_) => {}
            Err(e) => tracing::debug!(lock = %id, "ignoring an unreadable lock file: {e:#}"),
        }
    }
    Ok(None)
}

fn locked_error(l: &Lock) -> anyhow::Error {
    let hint = if l.stale(chrono::Utc::now()) {
        "; the lock is stale (its process is gone or it is over 30 minutes old): `restic unlock` removes it"
    } else {
        ": wait for that run to finish"
    };
    anyhow::anyhow!("the backup repository is locked: {}{hint}", l.describe())
}

fn survive_sighup() -> Result<()> {
    static CAUGHT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if CAUGHT.get().is_none() {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGHUP, flag)
            .context("catching SIGHUP (restic's liveness probe of lock holders)")?;
        let _ = CAUGHT.set(());
    }
    Ok(())
}

/// Runs `work` holding a non-exclusive repository lock.
pub(crate) fn with_shared_lock<T>(
    files: &RepoFiles,
    master: &MasterKey,
    work: impl FnOnce() -> Result<T>,
) -> Result<T> {
    holding(files, master, REFRESH_EVERY, work)
}

fn holding<T>(
    files: &RepoFiles,
    master: &MasterKey,
    refresh: std::time::Duration,
    work: impl FnOnce() -> Result<T>,
) -> Result<T> {
    if let Some(l) = exclusive_holder(files, master, None)? {
        return Err(locked_error(&l));
    }
    survive_sighup()?;
    let first = restic_lock::seal(master, &Lock::shared_of_this_process())?;
    files
        .put(LOCKS, &first.id, &first.bytes)
        .context("writing the repository lock")?;
    if files.listing_may_lag() {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // an exclusive locker that wrote its lock meanwhile sees ours too, and one of us gives way
    if let Some(l) = exclusive_holder(files, master, Some(&first.id))? {
        let _ = files.delete(LOCKS, &first.id);
        return Err(locked_error(&l));
    }
    let current = Mutex::new(first.id);
    let (stop, stopped) = mpsc::channel::<()>();
    let held = &current;
    let result = std::thread::scope(|s| {
        s.spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(refresh) {
                // restic's refresh: a new lock file with the current time, then the old one goes
                let fresh = restic_lock::seal(master, &Lock::shared_of_this_process())
                    .and_then(|f| files.put(LOCKS, &f.id, &f.bytes).map(|()| f.id));
                match fresh {
                    Ok(id) => {
                        let old = std::mem::replace(&mut *held.lock().expect("lock id"), id);
                        let _ = files.delete(LOCKS, &old);
                    }
                    Err(e) => tracing::warn!("refreshing the repository lock: {e:#}"),
                }
            }
        });
        let r = work();
        drop(stop);
        r
    });
    let id = current.into_inner().expect("lock id");
    if let Err(e) = files.delete(LOCKS, &id) {
        tracing::warn!("removing the repository lock {id}: {e:#}");
    }
    result
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the test repository is made directly, not through Root
mod tests {
    use super::*;
    use crate::host::Root;
    use std::path::Path;
    use std::time::Duration;

    fn master() -> MasterKey {
        MasterKey::from_json(
            br#"{"mac":{"k":"AAECAwQFBgcICQoLDA0ODw==","r":"EBESExQVFhcYGRobHB0eHw=="},"encrypt":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}"#,
        )
        .unwrap()
    }

    fn locks(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.join("repo/locks"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_held_lock_is_refreshed_then_removed_and_an_exclusive_one_is_respected() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("repo/locks")).unwrap();
        let root = Root::new(t.path()).unwrap();
        let files = RepoFiles::Local {
            root: &root,
            dir: "/repo".into(),
        };
        let m = master();
        let mut seen = Vec::new();
        let out = holding(&files, &m, Duration::from_millis(40), || {
            // (a refresh may just be replacing it: read whichever is there)
            let bytes = locks(t.path())
                .iter()
                .find_map(|n| std::fs::read(t.path().join("repo/locks").join(n)).ok())
                .unwrap();
            let lock = restic_lock::open(&m, &bytes).unwrap();
            assert!(!lock.exclusive && lock.pid == i64::from(std::process::id()));
            for _ in 0..10 {
                // a refresh writes the new lock before it removes the old one
                let now = locks(t.path());
                assert!((1..=2).contains(&now.len()), "{now:?}");
                seen.extend(now);
                std::thread::sleep(Duration::from_millis(30));
            }
            Ok(7)
        })
        .unwrap();
        assert_eq!(out, 7);
        seen.sort();
        seen.dedup();
        assert!(seen.len() >= 3, "refreshed: {seen:?}");
        assert!(locks(t.path()).is_empty(), "removed at the end");

        // an exclusive lock (restic's prune) stops it before it writes anything
        let mut excl = Lock::shared_of_this_process();
        excl.exclusive = true;
        excl.pid = 4242;
        excl.hostname = "elsewhere".into();
        let sealed = restic_lock::seal(&m, &excl).unwrap();
        std::fs::write(t.path().join("repo/locks").join(&sealed.id), &sealed.bytes).unwrap();
        let err = holding(&files, &m, REFRESH_EVERY, || -> Result<()> {
            panic!("ran under an exclusive lock")
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("exclusive lock by PID 4242 on elsewhere"),
            "{err}"
        );
        assert_eq!(locks(t.path()), vec![sealed.id]);
    }
}
