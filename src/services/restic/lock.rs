//! restic lock files (`locks/<id>`): who works on a repository. lempctl writes snapshots in-process
//! (`services::rustic`), so it takes the same lock restic's own `backup` takes: a non-exclusive
//! lock, which restic's `prune`, `forget` and `check` (exclusive lockers) respect, and which
//! refuses to start while one of them holds an exclusive lock.
//! The format is restic's: JSON encrypted with the master key, named by the SHA-256 of the stored
//! bytes. restic 0.14 compresses its own lock files (a leading 0x02, then zstd) in version-2
//! repositories and reads plain JSON too, which is what lempctl writes.

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::key::MasterKey;

/// A lock not refreshed for this long is stale to restic (`staleTimeout`).
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(30 * 60);
/// How often a held lock is rewritten with a new time (restic's `refreshInterval`).
pub(crate) const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);

/// restic's `Lock` as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Lock {
    pub time: DateTime<Utc>,
    pub exclusive: bool,
    pub hostname: String,
    pub username: String,
    pub pid: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub uid: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gid: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl Lock {
    /// A non-exclusive lock of this process, now.
    pub(crate) fn shared_of_this_process() -> Self {
        let uid = nix::unistd::getuid();
        Self {
            time: Utc::now(),
            exclusive: false,
            hostname: hostname(),
            username: nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_default(),
            pid: i64::from(std::process::id()),
            uid: uid.as_raw(),
            gid: nix::unistd::getgid().as_raw(),
        }
    }

    /// restic's rule: older than 30 minutes, or taken on this host by a process that is gone.
    pub(crate) fn stale(&self, now: DateTime<Utc>) -> bool {
        let age = now.signed_duration_since(self.time);
        if age.to_std().is_ok_and(|a| a > STALE_AFTER) {
            return true;
        }
        if self.hostname != hostname() {
            return false;
        }
        let Ok(pid) = i32::try_from(self.pid) else {
            return false;
        };
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            == Err(nix::errno::Errno::ESRCH)
    }

    /// How restic describes a lock holder.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} lock by PID {} on {} by {} since {}",
            if self.exclusive { "an exclusive" } else { "a" },
            self.pid,
            self.hostname,
            self.username,
            self.time.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A lock file as stored: its name and bytes.
pub(crate) struct SealedLock {
    pub id: String,
    pub bytes: Vec<u8>,
}

pub(crate) fn seal(master: &MasterKey, lock: &Lock) -> Result<SealedLock> {
    let json = serde_json::to_vec(lock).context("lock file")?;
    let bytes = master.encrypt(&json)?;
    Ok(SealedLock {
        id: hex::encode(Sha256::digest(&bytes)),
        bytes,
    })
}

/// The lock in a lock file, written by restic (compressed or not) or by lempctl.
pub(crate) fn open(master: &MasterKey, bytes: &[u8]) -> Result<Lock> {
    serde_json::from_slice(&master.decrypt_unpacked(bytes)?).context("reading a lock file")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> MasterKey {
        MasterKey::from_json(
            br#"{"mac":{"k":"AAECAwQFBgcICQoLDA0ODw==","r":"EBESExQVFhcYGRobHB0eHw=="},"encrypt":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}"#,
        )
        .unwrap()
    }

    #[test]
    fn seal_open_round_trip_plain_and_compressed() {
        let m = master();
        let lock = Lock::shared_of_this_process();
        let s = seal(&m, &lock).unwrap();
        assert_eq!(s.id, hex::encode(Sha256::digest(&s.bytes)));
        assert_eq!(open(&m, &s.bytes).unwrap(), lock);
        // restic's own form in version-2 repositories: 0x02 then zstd
        let mut packed = vec![2u8];
        packed.extend(zstd::encode_all(&serde_json::to_vec(&lock).unwrap()[..], 3).unwrap());
        assert_eq!(open(&m, &m.encrypt(&packed).unwrap()).unwrap(), lock);
        let mut bad = s.bytes.clone();
        bad[20] ^= 1;
        assert!(open(&m, &bad).is_err());
    }

    #[test]
    fn reads_restic_json_and_judges_staleness() {
        // as restic 0.14 marshals it (Go's RFC 3339 with nanoseconds and zone offset)
        let l: Lock = serde_json::from_str(
            r#"{"time":"2026-11-23T02:10:00.123456789+01:00","exclusive":true,"hostname":"elsewhere","username":"root","pid":4242}"#,
        )
        .unwrap();
        assert!(l.exclusive);
        let t = l.time;
        assert!(
            !l.stale(t + chrono::Duration::minutes(29)),
            "another host: only age counts"
        );
        assert!(l.stale(t + chrono::Duration::minutes(31)));
        let mut mine = Lock::shared_of_this_process();
        assert!(!mine.stale(mine.time), "this process is alive");
        mine.pid = i64::from(i32::MAX); // no such process
        assert!(mine.stale(mine.time));
        assert!(
            l.describe()
                .starts_with("an exclusive lock by PID 4242 on elsewhere")
        );
    }
}
