//! S3 credentials: the AWS default chain or static keys read from a private (0600) file.
//! Invariant: a credentials file readable by group or others is refused, never parsed.

use anyhow::{Context, Result, bail};
use std::path::Path;

/// Where the S3 client gets its credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// Standard AWS chain: environment, shared profile files, web identity, instance role.
    #[default]
    Chain,
    Static {
        access_key: String,
        secret_key: String,
        session_token: Option<String>,
    },
}

// never print secrets in logs or panics
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Chain => f.write_str("Chain"),
            Credentials::Static { access_key, .. } => {
                write!(
                    f,
                    "Static {{ access_key: {access_key:?}, secret_key: *** }}"
                )
            }
        }
    }
}

/// Read static credentials from `path`: plain `key = value` lines, or the AWS shared-credentials
/// INI format (section `profile`, default `default`). Refused if group/world-accessible.
pub(crate) fn parse_credentials_file(path: &Path, profile: Option<&str>) -> Result<Credentials> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("reading credentials file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "credentials file {} is accessible by group/others (mode {:04o}); run `chmod 600 {}`",
                path.display(),
                mode,
                path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading credentials file {}", path.display()))?;
    parse_credentials_str(&text, profile)
        .with_context(|| format!("in credentials file {}", path.display()))
}

/// Parse the file content (see `parse_credentials_file`).
pub(crate) fn parse_credentials_str(text: &str, profile: Option<&str>) -> Result<Credentials> {
    let want = profile.unwrap_or("default");
    let mut section: Option<String> = None;
    let mut saw_section = false;
    let mut found = false;
    let (mut ak, mut sk, mut tok) = (None, None, None);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            section = Some(
                name.strip_prefix("profile ")
                    .unwrap_or(name)
                    .trim()
                    .to_string(),
            );
            saw_section = true;
            found |= section.as_deref() == Some(want);
            continue;
        }
        if saw_section && section.as_deref() != Some(want) {
            continue;
        }
        let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            bail!("line {}: expected `key = value`", n + 1);
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "aws_access_key_id" | "access_key_id" | "access_key" => ak = Some(v),
            "aws_secret_access_key" | "secret_access_key" | "secret_key" => sk = Some(v),
            "aws_session_token" | "session_token" => tok = Some(v).filter(|t| !t.is_empty()),
            _ => {}
        }
    }
    if saw_section && !found {
        bail!("no section [{want}]");
    }
    let which = if saw_section {
        format!(" in section [{want}]")
    } else {
        String::new()
    };
    match (ak, sk) {
        (Some(a), Some(s)) if !a.is_empty() && !s.is_empty() => Ok(Credentials::Static {
            access_key: a,
            secret_key: s,
            session_token: tok,
        }),
        _ => bail!("access key and secret key are both required{which}"),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // test fixtures are written directly, not through host::Root
mod tests {
    use super::*;

    fn stat(a: &str, s: &str, t: Option<&str>) -> Credentials {
        Credentials::Static {
            access_key: a.into(),
            secret_key: s.into(),
            session_token: t.map(Into::into),
        }
    }

    #[test]
    fn plain_key_value() {
        let c =
            parse_credentials_str("# comment\naccess_key = AK\nsecret_key=\"SK\"\n", None).unwrap();
        assert_eq!(c, stat("AK", "SK", None));
    }

    #[test]
    fn ini_default_and_profile() {
        let t = "[other]\naws_access_key_id = O\naws_secret_access_key = OS\n\n[default]\naws_access_key_id = D\naws_secret_access_key = DS\naws_session_token = TOK\n";
        assert_eq!(
            parse_credentials_str(t, None).unwrap(),
            stat("D", "DS", Some("TOK"))
        );
        assert_eq!(
            parse_credentials_str(t, Some("other")).unwrap(),
            stat("O", "OS", None)
        );
        assert!(parse_credentials_str(t, Some("nope")).is_err());
    }

    #[test]
    fn missing_secret_is_an_error() {
        let e = parse_credentials_str("access_key = AK\n", None).unwrap_err();
        assert!(e.to_string().contains("required"), "{e}");
        assert!(parse_credentials_str("garbage line\n", None).is_err());
    }

    #[test]
    fn debug_hides_secret() {
        let s = format!("{:?}", stat("AK", "SECRET", None));
        assert!(!s.contains("SECRET"));
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_file_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("creds");
        std::fs::write(&p, "access_key=a\nsecret_key=b\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = parse_credentials_file(&p, None).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            parse_credentials_file(&p, None).unwrap(),
            stat("a", "b", None)
        );
    }
}
