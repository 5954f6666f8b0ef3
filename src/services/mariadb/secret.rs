//! Database passwords: generation from the OS CSPRNG and a type that never prints itself.
//! Invariant: generated passwords are 40 chars of [A-Za-z0-9] (safe unescaped in
//! wp-config.php and my.cnf); `Debug` shows `[redacted]` and there is no `Display`.

use rand::TryRng;
use rand::rngs::SysRng;
use sha1::{Digest, Sha1};

/// Length of generated passwords: 40 * log2(62) ≈ 238 bits.
pub(crate) const GENERATED_LEN: usize = 40;

const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps an existing password (e.g. read from the secrets store).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// A fresh password straight from the OS CSPRNG (getrandom), no userspace RNG state.
    pub fn generate() -> std::io::Result<Self> {
        let mut out = String::with_capacity(GENERATED_LEN);
        let mut buf = [0u8; 64];
        while out.len() < GENERATED_LEN {
            SysRng
                .try_fill_bytes(&mut buf)
                .map_err(|e| std::io::Error::other(format!("the OS random source failed: {e}")))?;
            for b in buf {
                // Rejection sampling: 248 = 4 * 62, so `b % 62` is uniform for b < 248.
                if b < 248 && out.len() < GENERATED_LEN {
                    out.push(char::from(ALPHABET[usize::from(b % 62)]));
                }
            }
        }
        Ok(Secret(out))
    }

    /// The clear text; call sites are the only places a password leaves this type.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// MariaDB `mysql_native_password` hash: `*` + upper hex SHA1(SHA1(password)).
    pub fn native_password_hash(&self) -> String {
        let inner = Sha1::digest(self.0.as_bytes());
        let outer = Sha1::digest(inner);
        format!("*{}", hex::encode_upper(outer))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_is_long_alphanumeric_and_distinct() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_eq!(a.expose().len(), GENERATED_LEN);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert!(!format!("{:?}", Some(&s)).contains("hunter2"));
    }

    #[test]
    fn native_hash_matches_mariadb() {
        // SELECT PASSWORD('password') on MariaDB 10.11
        let s = Secret::new("password");
        assert_eq!(
            s.native_password_hash(),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
    }
}
