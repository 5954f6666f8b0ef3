//! Pure planning: local files vs remote listing → uploads, deletes, unchanged; safety checks.
//! Invariant: no I/O here. Content decides (MD5 / multipart ETag / stored md5 metadata), never
//! mtime; a key the listing cannot decide is returned in `need_head`, never guessed.

use super::SyncError;
use super::etag::is_plain_md5;
use super::local::LocalFile;
use super::rules::Excludes;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// One object from ListObjectsV2, key relative to the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RemoteObject {
    pub key: String,
    pub size: u64,
    /// Normalized ETag; `None` when the listing omitted it.
    pub etag: Option<String>,
}

/// What HeadObject told us about one key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct HeadInfo {
    pub size: u64,
    pub etag: Option<String>,
    /// `x-amz-meta-lempctl-md5`, written by our uploads.
    pub md5_meta: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadReason {
    New,
    Changed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Unchanged,
    Changed,
    NeedHead,
}

fn etag_verdict(etag: &str, local: &LocalFile, threshold: u64) -> Verdict {
    if is_plain_md5(etag) {
        if etag == local.md5 {
            Verdict::Unchanged
        } else if local.size > threshold {
            // some servers give multipart uploads a plain-looking ETag; the md5 metadata decides
            Verdict::NeedHead
        } else {
            Verdict::Changed
        }
    } else if local.multipart_etag.as_deref() == Some(etag) {
        Verdict::Unchanged
    } else {
        // other part size, other tool, SSE-KMS…: not comparable from the listing
        Verdict::NeedHead
    }
}

/// Compare one local file with its remote object (and HEAD result, if one was made).
pub(super) fn compare(
    local: &LocalFile,
    remote: &RemoteObject,
    head: Option<&HeadInfo>,
    threshold: u64,
) -> Verdict {
    if local.size != remote.size {
        return Verdict::Changed;
    }
    if let Some(h) = head {
        if h.size != local.size {
            return Verdict::Changed;
        }
        if let Some(m) = &h.md5_meta {
            return if *m == local.md5 {
                Verdict::Unchanged
            } else {
                Verdict::Changed
            };
        }
        return match h.etag.as_deref().map(|e| etag_verdict(e, local, threshold)) {
            Some(Verdict::Unchanged) => Verdict::Unchanged,
            _ => Verdict::Changed,
        };
    }
    match remote.etag.as_deref() {
        None => Verdict::NeedHead,
        Some(e) => etag_verdict(e, local, threshold),
    }
}

/// Index into the local file list plus why it is uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UploadItem {
    pub local: usize,
    pub reason: UploadReason,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Plan {
    pub uploads: Vec<UploadItem>,
    /// Keys relative to the prefix, sorted.
    pub deletes: Vec<String>,
    pub unchanged: u64,
    /// Keys (relative) whose listing entry cannot decide; HEAD them and plan again.
    pub need_head: Vec<String>,
    pub excluded_remote: u64,
    /// Every object listed under the prefix (the base of the deletion share).
    pub remote_total: u64,
}

/// `local` must already be exclude-filtered and hashed.
pub(super) fn plan(
    local: &[LocalFile],
    remote: &[RemoteObject],
    heads: &HashMap<String, HeadInfo>,
    excludes: &Excludes,
    delete_excluded: bool,
    threshold: u64,
) -> Plan {
    let mut p = Plan {
        remote_total: remote.len() as u64,
        ..Plan::default()
    };
    let by_key: HashMap<&str, &RemoteObject> = remote.iter().map(|r| (r.key.as_str(), r)).collect();
    let local_keys: HashSet<&str> = local.iter().map(|l| l.rel.as_str()).collect();
    for (i, l) in local.iter().enumerate() {
        let Some(r) = by_key.get(l.rel.as_str()) else {
            p.uploads.push(UploadItem {
                local: i,
                reason: UploadReason::New,
            });
            continue;
        };
        match compare(l, r, heads.get(&l.rel), threshold) {
            Verdict::Unchanged => p.unchanged += 1,
            Verdict::Changed => p.uploads.push(UploadItem {
                local: i,
                reason: UploadReason::Changed,
            }),
            Verdict::NeedHead => p.need_head.push(l.rel.clone()),
        }
    }
    for r in remote {
        if local_keys.contains(r.key.as_str()) {
            continue;
        }
        if excludes.is_excluded(&r.key) {
            p.excluded_remote += 1;
            if !delete_excluded {
                continue;
            }
        }
        p.deletes.push(r.key.clone());
    }
    p.deletes.sort();
    p
}

/// Refuse to mirror a missing or empty source (it would wipe the site) unless forced.
pub(super) fn check_source(
    exists: bool,
    files: usize,
    source: &str,
    force: bool,
) -> Result<(), SyncError> {
    if force {
        return Ok(());
    }
    if !exists {
        return Err(SyncError::Refused {
            reason: format!(
                "source directory `{source}` does not exist (use --force to mirror an empty tree)"
            ),
        });
    }
    if files == 0 {
        return Err(SyncError::Refused {
            reason: format!(
                "source directory `{source}` has no files after excludes (use --force to delete everything under the prefix)"
            ),
        });
    }
    Ok(())
}

/// Refuse when the deletes exceed `max_share` of the objects under the prefix, unless forced.
pub(super) fn check_delete_share(
    deletes: usize,
    remote_total: u64,
    max_share: f64,
    force: bool,
) -> Result<(), SyncError> {
    if force || deletes == 0 {
        return Ok(());
    }
    let share = deletes as f64 / remote_total.max(1) as f64;
    if share > max_share {
        return Err(SyncError::Refused {
            reason: format!(
                "would delete {deletes} of {remote_total} objects ({:.0}% > limit {:.0}%); use --force to proceed",
                share * 100.0,
                max_share * 100.0
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::s3::rules::default_excludes;

    const T: u64 = 100; // multipart threshold for the tests

    fn lf(rel: &str, size: u64, md5: &str, mpu: Option<&str>) -> LocalFile {
        LocalFile {
            rel: rel.into(),
            path: rel.into(),
            size,
            md5: md5.into(),
            multipart_etag: mpu.map(Into::into),
        }
    }
    fn ro(key: &str, size: u64, etag: Option<&str>) -> RemoteObject {
        RemoteObject {
            key: key.into(),
            size,
            etag: etag.map(Into::into),
        }
    }
    const A: &str = "0cc175b9c0f1b6a831c399e269772661";
    const B: &str = "92eb5ffee6ae2fec3ad71c777531578f";
    fn ex() -> Excludes {
        Excludes::new(&default_excludes()).unwrap()
    }

    #[test]
    fn compare_single_part() {
        let l = lf("a", 10, A, None);
        assert_eq!(
            compare(&l, &ro("a", 10, Some(A)), None, T),
            Verdict::Unchanged
        );
        assert_eq!(
            compare(&l, &ro("a", 10, Some(B)), None, T),
            Verdict::Changed
        );
        assert_eq!(
            compare(&l, &ro("a", 11, Some(A)), None, T),
            Verdict::Changed,
            "size first"
        );
        assert_eq!(compare(&l, &ro("a", 10, None), None, T), Verdict::NeedHead);
        assert_eq!(
            compare(&l, &ro("a", 11, None), None, T),
            Verdict::Changed,
            "no HEAD if size differs"
        );
    }

    #[test]
    fn compare_multipart() {
        let l = lf("big", 500, A, Some("abc-3"));
        assert_eq!(
            compare(&l, &ro("big", 500, Some("abc-3")), None, T),
            Verdict::Unchanged
        );
        assert_eq!(
            compare(&l, &ro("big", 500, Some("def-2")), None, T),
            Verdict::NeedHead
        );
        // plain md5 ETag of a big file: equal → unchanged, else ask HEAD (metadata)
        assert_eq!(
            compare(&l, &ro("big", 500, Some(A)), None, T),
            Verdict::Unchanged
        );
        assert_eq!(
            compare(&l, &ro("big", 500, Some(B)), None, T),
            Verdict::NeedHead
        );
    }

    #[test]
    fn compare_with_head() {
        let l = lf("big", 500, A, Some("abc-3"));
        let r = ro("big", 500, Some("def-2"));
        let meta = |m: &str| HeadInfo {
            size: 500,
            etag: Some("def-2".into()),
            md5_meta: Some(m.into()),
        };
        assert_eq!(compare(&l, &r, Some(&meta(A)), T), Verdict::Unchanged);
        assert_eq!(compare(&l, &r, Some(&meta(B)), T), Verdict::Changed);
        let no_meta = HeadInfo {
            size: 500,
            etag: Some("def-2".into()),
            md5_meta: None,
        };
        assert_eq!(
            compare(&l, &r, Some(&no_meta), T),
            Verdict::Changed,
            "undecidable → upload"
        );
        // listing without ETag (s3s-fs): HEAD's ETag decides
        let s = lf("s", 10, A, None);
        let h = HeadInfo {
            size: 10,
            etag: Some(A.into()),
            md5_meta: None,
        };
        assert_eq!(
            compare(&s, &ro("s", 10, None), Some(&h), T),
            Verdict::Unchanged
        );
    }

    #[test]
    fn plan_new_changed_unchanged_deleted() {
        let local = vec![
            lf("a", 1, A, None),
            lf("b", 1, A, None),
            lf("c", 1, A, None),
        ];
        let remote = vec![
            ro("a", 1, Some(A)),
            ro("b", 1, Some(B)),
            ro("gone", 1, Some(A)),
            ro("old/x", 3, None),
        ];
        let p = plan(&local, &remote, &HashMap::new(), &ex(), false, T);
        assert_eq!(
            p.uploads,
            vec![
                UploadItem {
                    local: 1,
                    reason: UploadReason::Changed
                },
                UploadItem {
                    local: 2,
                    reason: UploadReason::New
                }
            ]
        );
        assert_eq!(p.unchanged, 1);
        assert_eq!(p.deletes, vec!["gone".to_string(), "old/x".to_string()]);
        assert!(p.need_head.is_empty());
        assert_eq!(p.remote_total, 4);
    }

    #[test]
    fn plan_need_head_then_resolved() {
        let local = vec![lf("a", 1, A, None)];
        let remote = vec![ro("a", 1, None)];
        let p = plan(&local, &remote, &HashMap::new(), &ex(), false, T);
        assert_eq!(p.need_head, vec!["a".to_string()]);
        assert!(p.uploads.is_empty());
        let heads = HashMap::from([(
            "a".to_string(),
            HeadInfo {
                size: 1,
                etag: Some(A.into()),
                md5_meta: None,
            },
        )]);
        let p = plan(&local, &remote, &heads, &ex(), false, T);
        assert!(p.need_head.is_empty());
        assert_eq!(p.unchanged, 1);
    }

    #[test]
    fn excluded_remote_keys_ignored_unless_allowed() {
        let local = vec![lf("index.html", 1, A, None)];
        let remote = vec![
            ro("index.html", 1, Some(A)),
            ro("wp-admin/x.php", 1, Some(A)),
            ro(".git/HEAD", 1, Some(A)),
        ];
        let p = plan(&local, &remote, &HashMap::new(), &ex(), false, T);
        assert!(p.deletes.is_empty());
        assert_eq!(p.excluded_remote, 2);
        let p = plan(&local, &remote, &HashMap::new(), &ex(), true, T);
        assert_eq!(
            p.deletes,
            vec![".git/HEAD".to_string(), "wp-admin/x.php".to_string()]
        );
    }

    #[test]
    fn empty_remote_uploads_everything() {
        let local = vec![lf("a", 1, A, None), lf("b", 2, B, None)];
        let p = plan(&local, &[], &HashMap::new(), &ex(), false, T);
        assert_eq!(p.uploads.len(), 2);
        assert!(p.uploads.iter().all(|u| u.reason == UploadReason::New));
        assert!(p.deletes.is_empty());
    }

    #[test]
    fn source_checks() {
        assert!(matches!(
            check_source(false, 0, "s", false),
            Err(SyncError::Refused { .. })
        ));
        assert!(matches!(
            check_source(true, 0, "s", false),
            Err(SyncError::Refused { .. })
        ));
        assert!(check_source(true, 1, "s", false).is_ok());
        assert!(check_source(false, 0, "s", true).is_ok());
    }

    #[test]
    fn delete_share() {
        assert!(
            check_delete_share(5, 10, 0.5, false).is_ok(),
            "exactly the limit is allowed"
        );
        assert!(matches!(
            check_delete_share(6, 10, 0.5, false),
            Err(SyncError::Refused { .. })
        ));
        assert!(check_delete_share(6, 10, 0.5, true).is_ok());
        assert!(check_delete_share(0, 0, 0.5, false).is_ok());
        assert!(check_delete_share(1, 1, 0.5, false).is_err());
        assert!(check_delete_share(1, 1, 1.0, false).is_ok());
        assert!(check_delete_share(1, 100, 0.0, false).is_err());
    }
}
