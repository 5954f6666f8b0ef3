//! The `s3` section: where a site's static export is mirrored and how.

use std::path::{Path, PathBuf};

use crate::config::check::Ctx;
use crate::config::schedule::{self, Schedule};
use crate::config::values::*;

/// A site's S3 mirror (`s3` section): where its static export goes and how.
#[derive(Debug, Clone, serde::Serialize)]
pub struct S3Site {
    pub bucket: String,
    pub prefix: Option<String>,
    pub region: String,
    pub endpoint: Option<String>,
    pub path_style: bool,
    /// Host path of the tree to publish (default `<site_dir>/static`).
    pub source: PathBuf,
    /// Added to the built-in excludes.
    pub excludes: Vec<String>,
    pub delete_excluded: bool,
    pub cache_control: Vec<S3CacheRule>,
    pub max_delete_share: f64,
    pub concurrency: u32,
    pub schedule: Option<Schedule>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct S3CacheRule {
    pub glob: String,
    pub value: String,
}

/// S3 bucket naming rules (general purpose buckets).
pub fn valid_bucket(b: &str) -> Result<(), String> {
    if !(3..=63).contains(&b.len()) {
        return Err(format!("{} characters; 3-63 are allowed", b.len()));
    }
    if !b
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err("only lower-case letters, digits, `.` and `-` are allowed".into());
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge(b.chars().next()) || !edge(b.chars().last()) {
        return Err("must begin and end with a letter or digit".into());
    }
    if b.contains("..") || b.contains(".-") || b.contains("-.") {
        return Err("`..`, `.-` and `-.` are not allowed".into());
    }
    if b.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("must not look like an IP address".into());
    }
    for p in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if b.starts_with(p) {
            return Err(format!("the prefix `{p}` is reserved"));
        }
    }
    for sfx in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if b.ends_with(sfx) {
            return Err(format!("the suffix `{sfx}` is reserved"));
        }
    }
    Ok(())
}

/// A header value: visible ASCII and spaces, no line breaks.
fn valid_header_value(s: &str) -> bool {
    !s.trim().is_empty() && s.len() <= 1024 && s.chars().all(|c| c == ' ' || c.is_ascii_graphic())
}

/// `site_dir`: the site's directory (host path) when its name is valid.
pub(super) fn section(
    ctx: &mut Ctx<'_>,
    f: &crate::config::file::S3File,
    site_dir: Option<&Path>,
) -> S3Site {
    use crate::config::pattern::check_pattern;
    if let Err(why) = valid_bucket(&f.bucket.value) {
        ctx.err(
            &f.bucket,
            "s3.bucket",
            format!("`{}` is not a valid bucket name: {why}", printable(&f.bucket.value)),
            Some("3-63 lower-case letters, digits, `.` and `-`, starting and ending with a letter or digit"),
        );
    }
    let prefix = f.prefix.as_ref().and_then(|v| {
        let p = v.value.trim_matches('/');
        let ok = v.value.len() <= 512
            && !v.value.chars().any(char::is_control)
            && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
            || p.is_empty();
        if !ok {
            ctx.err(
                v,
                "s3.prefix",
                format!("`{}` is not a key prefix", printable(&v.value)),
                Some("`/`-separated segments without `.`, `..`, empty segments or control characters"),
            );
        }
        (!p.is_empty()).then(|| p.to_owned())
    });
    let region = match &f.region {
        Some(v)
            if !v.value.is_empty()
                && v.value.len() <= 32
                && v.value
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') =>
        {
            v.value.clone()
        }
        Some(v) => {
            ctx.err(
                v,
                "s3.region",
                format!("`{}` is not a region name", printable(&v.value)),
                Some("lower-case letters, digits and `-`, e.g. `eu-central-1`"),
            );
            "us-east-1".to_owned()
        }
        None => "us-east-1".to_owned(),
    };
    let endpoint = f.endpoint.as_ref().and_then(|v| {
        if valid_endpoint(&v.value) {
            Some(v.value.trim_end_matches('/').to_owned())
        } else {
            ctx.err(
                v,
                "s3.endpoint",
                format!("`{}` is not an http(s) URL", printable(&v.value)),
                Some("`https://s3.example.com` or `http://127.0.0.1:9000`"),
            );
            None
        }
    });
    let source = match &f.source {
        None => PathBuf::from("static"),
        Some(v) => {
            let p = Path::new(&v.value);
            let inside = p.components().all(|c| {
                matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            });
            let abs_ok = site_dir.is_some_and(|d| under_roots(&v.value, &[d.to_path_buf()]));
            if v.value.is_empty() || v.value.chars().any(char::is_control) || !(inside || abs_ok) {
                let shown = site_dir.map_or_else(
                    || "the site directory".to_owned(),
                    |d| format!("`{}`", d.display()),
                );
                ctx.err(
                    v,
                    "s3.source",
                    format!(
                        "`{}` is not inside the site directory {shown}",
                        printable(&v.value)
                    ),
                    Some(&format!("a relative path inside the site directory (like `static`), or an absolute path under {shown}, without `..`")),
                );
            }
            PathBuf::from(&v.value)
        }
    };
    let mut excludes = Vec::new();
    for (i, v) in f.excludes.iter().enumerate() {
        match check_pattern(&v.value) {
            Ok(()) if !v.value.chars().any(char::is_control) => excludes.push(v.value.clone()),
            Ok(()) => ctx.err(
                v,
                &format!("s3.excludes[{i}]"),
                "control characters in a pattern",
                None,
            ),
            Err(why) => ctx.err(
                v,
                &format!("s3.excludes[{i}]"),
                format!("`{}` is not a glob pattern: {why}", printable(&v.value)),
                Some("gitignore-like globs: `*.map`, `drafts/`, `/private/**`"),
            ),
        }
    }
    let mut cache_control = Vec::new();
    for (i, r) in f.cache_control.iter().enumerate() {
        let mut ok = true;
        if let Err(why) = check_pattern(&r.glob.value) {
            ok = false;
            ctx.err(
                &r.glob,
                &format!("s3.cache_control[{i}].glob"),
                format!(
                    "`{}` is not a glob pattern: {why}",
                    printable(&r.glob.value)
                ),
                Some("gitignore-like globs: `*.html`, `assets/**`"),
            );
        }
        if !valid_header_value(&r.value.value) {
            ok = false;
            ctx.err(
                &r.value,
                &format!("s3.cache_control[{i}].value"),
                format!("`{}` is not a header value", printable(&r.value.value)),
                Some("printable ASCII on one line, e.g. `public, max-age=300`"),
            );
        }
        if ok {
            cache_control.push(S3CacheRule {
                glob: r.glob.value.clone(),
                value: r.value.value.trim().to_owned(),
            });
        }
    }
    let max_delete_share = match &f.max_delete_share {
        Some(v) if (0.0..=1.0).contains(&v.value) => v.value,
        Some(v) => {
            ctx.err(
                v,
                "s3.max_delete_share",
                format!("{} is out of range", v.value),
                Some("a share from 0 to 1, e.g. `0.5` (50 % of the objects)"),
            );
            0.5
        }
        None => 0.5,
    };
    let concurrency = match &f.concurrency {
        Some(v) if (1..=256).contains(&v.value) => v.value,
        Some(v) => {
            ctx.err(
                v,
                "s3.concurrency",
                format!("{} is out of range", v.value),
                Some("1-256"),
            );
            32
        }
        None => 32,
    };
    let schedule = f
        .schedule
        .as_ref()
        .and_then(|v| match Schedule::parse(&v.value) {
            Ok(s) => Some(s),
            Err(e) => {
                ctx.err(v, "s3.schedule", e, Some(schedule::ALLOWED));
                None
            }
        });
    S3Site {
        bucket: f.bucket.value.clone(),
        prefix,
        region,
        endpoint,
        path_style: f.path_style.unwrap_or(false),
        source,
        excludes,
        delete_excluded: f.delete_excluded.unwrap_or(false),
        cache_control,
        max_delete_share,
        concurrency,
        schedule,
    }
}
