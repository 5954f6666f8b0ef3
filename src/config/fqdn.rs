//! `Fqdn`: the only way a site name enters the program (parse, don't validate).
//! Lower-case DNS names only: upper case is refused, not normalised, so a file name, a vhost and a
//! database never disagree about a site's name.

use std::fmt;

/// A validated, lower-case, fully qualified domain name without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Fqdn(String);

/// What a valid site name looks like, for error messages.
pub const ALLOWED: &str = "a lower-case DNS name of 2 or more labels (`a-z`, `0-9`, `-`, each label 1-63 chars, not starting or ending with `-`), at most 253 chars, e.g. `shop.example.test`";

impl Fqdn {
    /// Parses a site name; the error says what is wrong with it.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("the name is empty".into());
        }
        if s.len() > 253 {
            return Err(format!(
                "the name is {} chars long; at most 253 are allowed",
                s.len()
            ));
        }
        if s.ends_with('.') {
            return Err("the name ends with `.`; write it without the trailing dot".into());
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
        {
            return Err(format!("the name contains {}", describe(c)));
        }
        if let Some(c) = s.chars().find(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "the name contains upper-case `{c}`; names are lower case (write `{}`)",
                s.to_ascii_lowercase()
            ));
        }
        let labels: Vec<&str> = s.split('.').collect();
        if labels.len() < 2 {
            return Err(
                "the name has a single label; a fully qualified name like `example.test` is needed"
                    .into(),
            );
        }
        for l in &labels {
            if l.is_empty() {
                return Err("the name has an empty label (`..` or a leading `.`)".into());
            }
            if l.len() > 63 {
                return Err(format!(
                    "the label `{}…` is {} chars long; at most 63 are allowed",
                    &l[..10],
                    l.len()
                ));
            }
            if l.starts_with('-') || l.ends_with('-') {
                return Err(format!("the label `{l}` starts or ends with `-`"));
            }
        }
        if labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        {
            return Err("the last label is numeric; an IP address is not a site name".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '/' => "`/` (a path is not a name)".into(),
        c if c.is_control() => format!("the control character {:?}", c),
        c => format!("the character `{c}`"),
    }
}

impl fmt::Display for Fqdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in [
            "example.test",
            "www.shop-1.example.test",
            "xn--bcher-kva.example",
            "a.b",
        ] {
            assert_eq!(Fqdn::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_bad_names_with_a_reason() {
        let cases = [
            ("../etc", "`/`"),
            ("exa mple.com", "a space"),
            ("EXAMPLE.com", "upper-case"),
            ("-bad.example.test", "starts or ends with `-`"),
            ("a;b.test", "`;`"),
            ("a{b.test", "`{`"),
            ("localhost", "single label"),
            ("a..b", "empty label"),
            ("example.test.", "trailing dot"),
            ("10.0.0.1", "numeric"),
            ("", "empty"),
        ];
        for (input, why) in cases {
            let err = Fqdn::parse(input).unwrap_err();
            assert!(err.contains(why), "{input:?}: {err}");
        }
        let long = format!("{}.test", "a".repeat(300));
        assert!(Fqdn::parse(&long).unwrap_err().contains("at most 253"));
        let long_label = format!("{}.test", "a".repeat(64));
        assert!(Fqdn::parse(&long_label).unwrap_err().contains("at most 63"));
    }
}
