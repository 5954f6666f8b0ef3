//! Names derived from a `Fqdn`: unix user, pool, socket and file names. Deterministic and
//! collision-free: the mapping `.` → `_` is injective (a DNS name has no `_`), and a name that
//! must be truncated gets a hash of the full name as suffix.

use sha2::{Digest, Sha256};

use super::fqdn::Fqdn;

/// Longest unix user name that `useradd` and most tools accept.
pub const MAX_USER: usize = 32;

/// Short, stable hex digest of a string (for truncated names).
pub fn short_hash(s: &str, len: usize) -> String {
    let digest = Sha256::digest(s.as_bytes());
    hex::encode(digest)[..len].to_owned()
}

/// Fits `prefix + body` into `max` chars; when it does not, keeps a prefix of `body` and
/// appends `_` and a hash of `full` so two long names cannot collide.
pub fn fit(prefix: &str, body: &str, full: &str, max: usize) -> String {
    let name = format!("{prefix}{body}");
    if name.len() <= max {
        return name;
    }
    let hash = short_hash(full, 8);
    let keep = max - prefix.len() - 1 - hash.len();
    let mut cut = body[..keep].trim_end_matches(['_', '-']).to_owned();
    if cut.is_empty() {
        cut = body[..1].to_owned();
    }
    format!("{prefix}{cut}_{hash}")
}

/// The system user (and group) a site's PHP runs as: `w_` + name with `.` → `_`.
pub fn system_user(fqdn: &Fqdn) -> String {
    fit(
        "w_",
        &fqdn.as_str().replace('.', "_"),
        fqdn.as_str(),
        MAX_USER,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_short_valid_and_distinct() {
        let a = Fqdn::parse("a-b.c.test").unwrap();
        let b = Fqdn::parse("a.b-c.test").unwrap();
        assert_eq!(system_user(&a), "w_a-b_c_test");
        assert_ne!(system_user(&a), system_user(&b));
        let long1 = Fqdn::parse(&format!("{}.one.example.test", "x".repeat(40))).unwrap();
        let long2 = Fqdn::parse(&format!("{}.two.example.test", "x".repeat(40))).unwrap();
        let (u1, u2) = (system_user(&long1), system_user(&long2));
        assert!(u1.len() <= MAX_USER && u2.len() <= MAX_USER, "{u1} {u2}");
        assert_ne!(u1, u2);
        assert!(
            u1.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        );
    }
}
