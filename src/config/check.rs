//! The validation context every section of a configuration file is checked with: the file, the
//! problems found so far, and the checks of single values that report into it.

use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::file::S;

pub(super) struct Ctx<'a> {
    pub file: &'a Path,
    pub errors: &'a mut Vec<ConfigError>,
}

impl Ctx<'_> {
    pub(super) fn err<T>(
        &mut self,
        v: &S<T>,
        field: &str,
        problem: impl Into<String>,
        allowed: Option<&str>,
    ) {
        let mut e = ConfigError::new(
            self.file,
            v.referenced.line(),
            v.referenced.column(),
            field,
            problem,
        );
        if let Some(a) = allowed {
            e = e.allowed(a);
        }
        self.errors.push(e);
    }

    /// An absolute path without characters that would break a config file.
    pub(super) fn path(&mut self, v: Option<&S<String>>, field: &str, default: &str) -> PathBuf {
        let Some(v) = v else {
            return PathBuf::from(default);
        };
        if !v.value.starts_with('/')
            || !safe_token(&v.value)
            || v.value.contains("/../")
            || v.value.ends_with("/..")
        {
            self.err(
                v,
                field,
                format!(
                    "`{}` is not an absolute path without spaces or special characters",
                    v.value
                ),
                Some("an absolute path of letters, digits and `-_./:@+%,=~`"),
            );
            return PathBuf::from(default);
        }
        PathBuf::from(&v.value)
    }

    pub(super) fn token(&mut self, v: Option<&S<String>>, field: &str, default: &str) -> String {
        let Some(v) = v else {
            return default.to_owned();
        };
        if !safe_token(&v.value) {
            self.err(
                v,
                field,
                format!("`{}` contains spaces or special characters", v.value),
                Some("letters, digits and `-_./:@+%,=~`"),
            );
            return default.to_owned();
        }
        v.value.clone()
    }

    /// A character set or collation name: letters, digits and `_`.
    pub(super) fn charset_word(
        &mut self,
        v: Option<&S<String>>,
        field: &str,
        default: &str,
    ) -> String {
        let Some(v) = v else {
            return default.to_owned();
        };
        if !v.value.is_empty()
            && v.value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return v.value.clone();
        }
        self.err(
            v,
            field,
            format!(
                "`{}` is not a character set or collation name",
                super::values::printable(&v.value)
            ),
            Some("letters, digits and `_`"),
        );
        default.to_owned()
    }
}

/// A value in a config file that becomes part of a rendered config: no whitespace or syntax chars.
pub fn safe_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+%,=~".contains(c))
}
