//! MariaDB database and user names for a site: derived from the FQDN, or validated overrides.
//! Invariant: every name returned is [A-Za-z0-9_], non-empty, db ≤ 64 and user ≤ 32 chars,
//! not reserved; derived names are `slug_hhhhhhhh` (always suffixed, see `derive_names`).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// Which kind of name a validation error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    Database,
    User,
}

impl std::fmt::Display for NameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameKind::Database => "database name",
            NameKind::User => "database user name",
        })
    }
}

/// A site's database or user name that MariaDB would refuse, or that two sites share.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NameError {
    #[error("invalid {kind} {value:?}: {problem}")]
    InvalidName {
        kind: NameKind,
        value: String,
        problem: String,
    },

    #[error("{kind} {name:?} is used by both site {first} and site {second}")]
    Collision {
        kind: NameKind,
        name: String,
        first: String,
        second: String,
    },
}

/// MariaDB's identifier limit.
pub(crate) const MAX_DATABASE_LEN: usize = 64;
/// MariaDB allows 80, MySQL ≥ 5.7 allows 32 (older MySQL 16): 32 keeps dumps/users portable.
pub(crate) const MAX_USER_LEN: usize = 32;
/// Hex digits of SHA-256(fqdn) appended to derived names (32 bits).
pub(crate) const HASH_LEN: usize = 8;

const RESERVED_DATABASES: &[&str] = &["mysql", "information_schema", "performance_schema", "sys"];
const RESERVED_USERS: &[&str] = &[
    "root",
    "mysql",
    "mariadb.sys",
    "mysql.sys",
    "admin",
    "debian-sys-maint",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SiteDbNames {
    pub database: String,
    pub user: String,
}

fn slug(fqdn: &str) -> String {
    fqdn.chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect()
}

fn with_hash(slug: &str, hash: &str, max: usize) -> String {
    let keep = max - HASH_LEN - 1;
    let head: String = slug.chars().take(keep).collect();
    format!("{}_{}", head.trim_end_matches('_'), hash)
}

/// Derived names: `.` and `-` become `_`, truncated to fit, then `_` + 8 hex of SHA-256(fqdn).
///
/// The suffix is always added (not only when the mapping is lossy) so that one rule
/// covers `a-b.c` vs `a.b-c`, truncation, and future changes of the slug rule; a
/// remaining 32-bit hash collision is caught by `check_collisions`.
pub(crate) fn derive_names(fqdn: &str) -> SiteDbNames {
    let digest = Sha256::digest(fqdn.as_bytes());
    let hash = hex::encode(digest);
    let hash = &hash[..HASH_LEN];
    let s = slug(fqdn);
    SiteDbNames {
        database: with_hash(&s, hash, MAX_DATABASE_LEN),
        user: with_hash(&s, hash, MAX_USER_LEN),
    }
}

fn validate(kind: NameKind, name: &str, max: usize, reserved: &[&str]) -> Result<(), NameError> {
    let err = |problem: String| NameError::InvalidName {
        kind,
        value: name.to_owned(),
        problem,
    };
    if name.is_empty() {
        return Err(err(format!(
            "it is empty; allowed: 1 to {max} characters of [A-Za-z0-9_]"
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        let what = match bad {
            '\'' | '"' => "a quote".to_owned(),
            '`' => "a backtick".to_owned(),
            ' ' | '\t' | '\n' | '\r' => "whitespace".to_owned(),
            c => format!("the character {c:?}"),
        };
        return Err(err(format!(
            "it contains {what}; allowed: only letters A-Z a-z, digits 0-9 and underscore"
        )));
    }
    let len = name.chars().count();
    if len > max {
        return Err(err(format!(
            "it is {len} characters long; at most {max} are allowed"
        )));
    }
    if reserved.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(err("it is reserved for the server itself".to_owned()));
    }
    Ok(())
}

/// Checks a database name override from a site file.
pub(crate) fn validate_database_name(name: &str) -> Result<(), NameError> {
    validate(
        NameKind::Database,
        name,
        MAX_DATABASE_LEN,
        RESERVED_DATABASES,
    )
}

/// Checks a user name override from a site file.
pub(crate) fn validate_user_name(name: &str) -> Result<(), NameError> {
    validate(NameKind::User, name, MAX_USER_LEN, RESERVED_USERS)
}

/// Names for a site: overrides (validated) where given, derived names otherwise.
pub(crate) fn resolve_names(
    fqdn: &str,
    database: Option<&str>,
    user: Option<&str>,
) -> Result<SiteDbNames, NameError> {
    let derived = derive_names(fqdn);
    let database = match database {
        Some(d) => {
            validate_database_name(d)?;
            d.to_owned()
        }
        None => derived.database,
    };
    let user = match user {
        Some(u) => {
            validate_user_name(u)?;
            u.to_owned()
        }
        None => derived.user,
    };
    Ok(SiteDbNames { database, user })
}

/// Fails if two sites share a database or a user name; the error names both sites.
/// Database names are compared case-insensitively (safe on any `lower_case_table_names`).
pub(crate) fn check_collisions<'a>(
    sites: impl IntoIterator<Item = (&'a str, &'a SiteDbNames)>,
) -> Result<(), NameError> {
    let mut dbs: BTreeMap<String, &str> = BTreeMap::new();
    let mut users: BTreeMap<&str, &str> = BTreeMap::new();
    for (site, names) in sites {
        if let Some(first) = dbs.insert(names.database.to_ascii_lowercase(), site) {
            return Err(NameError::Collision {
                kind: NameKind::Database,
                name: names.database.clone(),
                first: first.to_owned(),
                second: site.to_owned(),
            });
        }
        if let Some(first) = users.insert(&names.user, site) {
            return Err(NameError::Collision {
                kind: NameKind::User,
                name: names.user.clone(),
                first: first.to_owned(),
                second: site.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_shape() {
        let n = derive_names("shop.example.test");
        assert!(
            n.database.starts_with("shop_example_test_"),
            "{}",
            n.database
        );
        assert_eq!(n.database.len(), "shop_example_test_".len() + HASH_LEN);
        assert_eq!(n.user, n.database);
        assert!(validate_database_name(&n.database).is_ok());
        assert!(validate_user_name(&n.user).is_ok());
        assert_eq!(derive_names("shop.example.test"), n, "deterministic");
    }

    #[test]
    fn lossy_mapping_is_disambiguated() {
        let a = derive_names("a-b.c");
        let b = derive_names("a.b-c");
        assert_ne!(a.database, b.database);
        assert_ne!(a.user, b.user);
    }

    #[test]
    fn truncation_fits_and_stays_unique() {
        let long1 = format!("{}.one.example.test", "x".repeat(80));
        let long2 = format!("{}.two.example.test", "x".repeat(80));
        let (a, b) = (derive_names(&long1), derive_names(&long2));
        assert_eq!(a.database.len(), MAX_DATABASE_LEN);
        assert!(a.user.len() <= MAX_USER_LEN);
        assert_ne!(a.database, b.database);
        assert_ne!(a.user, b.user);
        assert!(check_collisions([(long1.as_str(), &a), (long2.as_str(), &b)]).is_ok());
        // truncation at a separator must not leave "__hash"
        let n = derive_names("abcdefghijklmnopqrstuv-.x.test");
        assert!(!n.user.contains("__"), "{}", n.user);
    }

    #[test]
    fn overrides_validated() {
        for (bad, needle) in [
            ("wp'db", "quote"),
            ("wp`db", "backtick"),
            ("wp db", "whitespace"),
            ("wp-db", "'-'"),
            ("", "empty"),
            ("mysql", "reserved"),
        ] {
            let e = validate_database_name(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad:?}: {e}");
            assert!(e.contains("database name"), "{e}");
        }
        let e = validate_user_name(&"u".repeat(33)).unwrap_err().to_string();
        assert!(
            e.contains("33 characters") && e.contains("at most 32"),
            "{e}"
        );
        assert!(validate_user_name("Wp_User1").is_ok());
        assert!(validate_database_name(&"d".repeat(64)).is_ok());
        assert!(validate_database_name(&"d".repeat(65)).is_err());
        assert!(resolve_names("a.test", Some("bad name"), None).is_err());
        assert_eq!(
            resolve_names("a.test", Some("wp"), Some("wpu"))
                .unwrap()
                .user,
            "wpu"
        );
    }

    #[test]
    fn collisions_name_both_sites() {
        let a = resolve_names("a.test", Some("shared"), None).unwrap();
        let b = resolve_names("b.test", Some("SHARED"), None).unwrap();
        let e = check_collisions([("a.test", &a), ("b.test", &b)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.test") && e.contains("b.test"), "{e}");
        let c = resolve_names("c.test", None, Some("same")).unwrap();
        let d = resolve_names("d.test", None, Some("same")).unwrap();
        let e = check_collisions([("c.test", &c), ("d.test", &d)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("user") && e.contains("c.test") && e.contains("d.test"),
            "{e}"
        );
    }
}
