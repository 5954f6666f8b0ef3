//! The `php` section: the pool's process manager, limits, uploads and the allowed ini keys.

use crate::config::file::S;
use std::collections::BTreeMap;

use crate::config::check::Ctx;
use crate::config::file::PhpFile;
use crate::config::global::{Global, PhpVersion};

use super::SiteKind;
use crate::config::values::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pm {
    Ondemand,
    Dynamic,
    Static,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Php {
    pub version: PhpVersion,
    /// Which of the version's PHP-FPM masters carries the pool (`Global::shard_of`).
    pub shard: u16,
    pub pm: Pm,
    pub max_children: u32,
    pub process_idle_timeout: u32,
    pub max_requests: u32,
    pub memory_limit: String,
    /// The largest file one upload may carry (`php.upload_max_size`, as written).
    pub upload_max_size: String,
    /// PHP's `upload_max_filesize`: always `upload_max_size`.
    pub upload_max_filesize: String,
    /// PHP's `post_max_size` and nginx's `client_max_body_size`: derived from `upload_max_size`
    /// by `post_size_for` (room for the multipart envelope and the other form fields).
    pub post_max_size: String,
    pub max_execution_time: u32,
    pub slowlog_timeout: u32,
    pub disable_functions: Vec<String>,
    pub ini: BTreeMap<String, String>,
    /// Deprecated fields found in the site file, one message each (`file:line:column: ...`),
    /// reported as warnings by `apply`.
    #[serde(skip)]
    pub deprecations: Vec<String>,
}

impl Php {
    /// The PHP-FPM master of the site's pool.
    pub fn master(&self) -> crate::host::machine::FpmId {
        crate::host::machine::FpmId {
            version: self.version.clone(),
            shard: self.shard,
        }
    }
}

const INI_KEY_ALLOWED: &str =
    "lower-case ini names like `max_input_vars` or `session.gc_maxlifetime`";

/// Bounds of `php.upload_max_size`.
const UPLOAD_MIN: u64 = MIB;
const UPLOAD_MAX: u64 = 4 << 30;
const UPLOAD_ALLOWED: &str =
    "a size from `1M` to `4G`: digits with `K`, `M` or `G`, e.g. `64M`, `1G`, `1536K`";

/// The request body an upload of `upload` bytes needs, in whole MiB: PHP's `post_max_size` and
/// nginx's `client_max_body_size`. The upload rounded up to MiB, plus a tenth of it (rounded up),
/// at least 1 MiB, for the multipart envelope and the other fields of the form:
/// `4M` → `5M`, `64M` → `71M`, `1G` → `1127M`.
pub fn post_size_for(upload: u64) -> String {
    let mib = upload.div_ceil(MIB);
    format!("{}M", mib + mib.div_ceil(10).max(1))
}

fn valid_ini_value(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || " -_.,:/@+=".contains(c))
}

/// The `php` section of a site that runs PHP; an error on one that does not.
pub(super) fn section(
    ctx: &mut Ctx<'_>,
    f: Option<&PhpFile>,
    kind: Option<SiteKind>,
    global: &Global,
) -> Option<Php> {
    if kind.is_some_and(SiteKind::uses_php) {
        return Some(settings(ctx, f, global));
    }
    if let Some(p) = f
        && let Some(v) = &p.version
    {
        ctx.err(
            v,
            "php",
            format!(
                "a `{}` site does not run PHP",
                kind.map_or("?", SiteKind::as_str)
            ),
            Some("`php` settings on `php` and `wordpress` sites"),
        );
    }
    None
}

fn settings(ctx: &mut Ctx<'_>, f: Option<&PhpFile>, global: &Global) -> Php {
    let mut php = Php {
        version: global.php_version.clone(),
        shard: 0,
        pm: Pm::Ondemand,
        max_children: 4,
        process_idle_timeout: 10,
        max_requests: 500,
        memory_limit: "256M".into(),
        upload_max_size: DEFAULT_UPLOAD.into(),
        upload_max_filesize: DEFAULT_UPLOAD.into(),
        post_max_size: post_size_for(64 * MIB),
        max_execution_time: 30,
        slowlog_timeout: 5,
        disable_functions: Vec::new(),
        ini: BTreeMap::new(),
        deprecations: Vec::new(),
    };
    let Some(f) = f else { return php };
    upload_settings(ctx, f, &mut php);
    if let Some(v) = &f.version {
        match PhpVersion::parse(&v.value) {
            Some(version) => php.version = version,
            None => ctx.err(
                v,
                "php.version",
                format!("`{}` is not a PHP version", printable(&v.value)),
                Some(PhpVersion::ALLOWED),
            ),
        }
    }
    if let Some(v) = &f.pm {
        match v.value.as_str() {
            "ondemand" => php.pm = Pm::Ondemand,
            "dynamic" => php.pm = Pm::Dynamic,
            "static" => php.pm = Pm::Static,
            other => ctx.err(
                v,
                "php.pm",
                format!("unknown value `{}`", printable(other)),
                Some("`ondemand`, `dynamic`, `static`"),
            ),
        }
    }
    let mut num = |v: &Option<S<u32>>, field: &str, lo: u32, hi: u32, out: &mut u32| {
        if let Some(v) = v {
            if (lo..=hi).contains(&v.value) {
                *out = v.value;
            } else {
                ctx.err(
                    v,
                    field,
                    format!("{} is out of range", v.value),
                    Some(&format!("{lo}-{hi}")),
                );
            }
        }
    };
    num(
        &f.max_children,
        "php.max_children",
        1,
        256,
        &mut php.max_children,
    );
    num(
        &f.process_idle_timeout,
        "php.process_idle_timeout",
        1,
        3600,
        &mut php.process_idle_timeout,
    );
    num(
        &f.max_requests,
        "php.max_requests",
        0,
        100_000,
        &mut php.max_requests,
    );
    num(
        &f.max_execution_time,
        "php.max_execution_time",
        0,
        3600,
        &mut php.max_execution_time,
    );
    num(
        &f.slowlog_timeout,
        "php.slowlog_timeout",
        1,
        3600,
        &mut php.slowlog_timeout,
    );
    if let Some(v) = &f.memory_limit {
        if valid_size(&v.value) {
            php.memory_limit = v.value.clone();
        } else {
            ctx.err(
                v,
                "php.memory_limit",
                format!("`{}` is not a size", printable(&v.value)),
                Some(SIZE_ALLOWED),
            );
        }
    }
    for (i, v) in f.disable_functions.iter().enumerate() {
        if !v.value.is_empty()
            && v.value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            php.disable_functions.push(v.value.clone());
        } else {
            ctx.err(
                v,
                &format!("php.disable_functions[{i}]"),
                format!("`{}` is not a PHP function name", printable(&v.value)),
                Some("lower-case letters, digits and `_`"),
            );
        }
    }
    if let Some(ini) = &f.ini {
        for (k, val) in &ini.value {
            let key_ok = !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
            if !key_ok {
                ctx.err(
                    ini,
                    &format!("php.ini.{}", printable(k)),
                    "not an ini setting name",
                    Some(INI_KEY_ALLOWED),
                );
            } else if PROTECTED_INI.contains(&k.as_str()) {
                ctx.err(
                    ini,
                    &format!("php.ini.{k}"),
                    "this setting is part of the site's isolation and cannot be overridden",
                    Some(&allowed_ini_keys()),
                );
            } else if !ALLOWED_INI.contains(&k.as_str()) {
                let why = if matches!(k.as_str(), "upload_max_filesize" | "post_max_size") {
                    format!("`{k}` is set by `php.upload_max_size`")
                } else if OWN_FIELD_INI.contains(&k.as_str()) {
                    format!("`{k}` has its own field: `php.{k}`")
                } else {
                    format!(
                        "`{k}` is not on the list of settings a site may change (paths, code loading and the pool's own settings are not)"
                    )
                };
                ctx.err(ini, &format!("php.ini.{k}"), why, Some(&allowed_ini_keys()));
            } else if OFF_ONLY_INI.contains(&k.as_str())
                && !matches!(
                    val.to_ascii_lowercase().as_str(),
                    "0" | "off" | "false" | "no"
                )
            {
                ctx.err(
                    ini,
                    &format!("php.ini.{k}"),
                    format!("`{k}` can only be turned off here"),
                    Some("`0` or `off`"),
                );
            } else if !valid_ini_value(val) {
                ctx.err(
                    ini,
                    &format!("php.ini.{k}"),
                    format!(
                        "value `{}` contains characters that are not allowed",
                        printable(val)
                    ),
                    Some("letters, digits, spaces and `-_.,:/@+=`"),
                );
            } else {
                php.ini.insert(k.clone(), val.clone());
            }
        }
    }
    php
}

/// `php.upload_max_size` of a site that sets none (php and wordpress sites).
const DEFAULT_UPLOAD: &str = "64M";

/// `php.upload_max_size` and the two fields it replaces: sets `upload_max_size`,
/// `upload_max_filesize` and the derived `post_max_size`.
///
/// `upload_max_filesize` alone is read as `upload_max_size` (deprecated: a warning); both together
/// are refused. `post_max_size` is derived now: a value below the upload size contradicts it and is
/// refused, any other value is ignored (deprecated: a warning). Before, nginx's 1 MiB default
/// capped every request body, so no larger `post_max_size` ever took effect.
fn upload_settings(ctx: &mut Ctx<'_>, f: &crate::config::file::PhpFile, php: &mut Php) {
    let given = match (&f.upload_max_size, &f.upload_max_filesize) {
        (Some(_), Some(old)) => {
            ctx.err(
                old,
                "php.upload_max_filesize",
                "replaced by `php.upload_max_size`, which is also set; it sets PHP's `upload_max_filesize`, `post_max_size` and nginx's `client_max_body_size` together",
                Some("only `php.upload_max_size` (remove `php.upload_max_filesize`)"),
            );
            return;
        }
        (Some(v), None) => Some((v, "php.upload_max_size")),
        (None, Some(v)) => Some((v, "php.upload_max_filesize")),
        (None, None) => None,
    };
    let mut upload = 64 * MIB;
    if let Some((v, field)) = given {
        match size_bytes(&v.value) {
            Some(n) if (UPLOAD_MIN..=UPLOAD_MAX).contains(&n) => {
                upload = n;
                php.upload_max_size = v.value.clone();
                php.upload_max_filesize = v.value.clone();
                php.post_max_size = post_size_for(n);
                if field == "php.upload_max_filesize" {
                    php.deprecations.push(format!(
                        "{}:{}:{}: `php.upload_max_filesize` is deprecated: write `php.upload_max_size: {}` instead (it sets PHP's upload_max_filesize, post_max_size {} and nginx's client_max_body_size {} together)",
                        ctx.file.display(),
                        v.referenced.line(),
                        v.referenced.column(),
                        v.value,
                        php.post_max_size,
                        php.post_max_size,
                    ));
                }
            }
            Some(_) => {
                ctx.err(
                    v,
                    field,
                    format!("`{}` is out of range", printable(&v.value)),
                    Some(UPLOAD_ALLOWED),
                );
                return;
            }
            None => {
                ctx.err(
                    v,
                    field,
                    format!("`{}` is not a size", printable(&v.value)),
                    Some(UPLOAD_ALLOWED),
                );
                return;
            }
        }
    }
    if let Some(v) = &f.post_max_size {
        match size_bytes(&v.value) {
            None => ctx.err(
                v,
                "php.post_max_size",
                format!("`{}` is not a size", printable(&v.value)),
                Some(SIZE_ALLOWED),
            ),
            Some(n) if n < upload => ctx.err(
                v,
                "php.post_max_size",
                format!(
                    "`{}` is smaller than the upload size `{}`: an upload of that size could never arrive",
                    printable(&v.value),
                    php.upload_max_size
                ),
                Some(&format!(
                    "no `php.post_max_size`: lempctl derives it from `php.upload_max_size` (here `{}`)",
                    php.post_max_size
                )),
            ),
            Some(_) => php.deprecations.push(format!(
                "{}:{}:{}: `php.post_max_size` is deprecated and ignored: lempctl derives it from `php.upload_max_size` (`{}` for PHP's post_max_size and nginx's client_max_body_size); remove the field",
                ctx.file.display(),
                v.referenced.line(),
                v.referenced.column(),
                php.post_max_size,
            )),
        }
    }
}

/// Settings that make up the isolation between sites; a site file cannot change them.
const PROTECTED_INI: &[&str] = &[
    "open_basedir",
    "disable_functions",
    "sys_temp_dir",
    "upload_tmp_dir",
    "session.save_path",
    "error_log",
];

/// The `php.ini` keys a site file may set: runtime tunables that name no host path, load no code
/// and change none of the pool's own settings (`docs/configuration.md` lists them too).
pub const ALLOWED_INI: &[&str] = &[
    "allow_url_fopen",
    "arg_separator.input",
    "arg_separator.output",
    "date.timezone",
    "default_charset",
    "default_socket_timeout",
    "enable_post_data_reading",
    "error_reporting",
    "expose_php",
    "file_uploads",
    "html_errors",
    "ignore_user_abort",
    "intl.default_locale",
    "max_file_uploads",
    "max_input_nesting_level",
    "max_input_time",
    "max_input_vars",
    "max_multipart_body_parts",
    "mbstring.language",
    "mbstring.substitute_character",
    "output_buffering",
    "pcre.backtrack_limit",
    "pcre.jit",
    "pcre.recursion_limit",
    "precision",
    "realpath_cache_size",
    "realpath_cache_ttl",
    "request_order",
    "serialize_precision",
    "session.cache_expire",
    "session.cache_limiter",
    "session.cookie_lifetime",
    "session.cookie_samesite",
    "session.cookie_secure",
    "session.gc_divisor",
    "session.gc_maxlifetime",
    "session.gc_probability",
    "session.name",
    "session.use_only_cookies",
    "short_open_tag",
    "user_agent",
    "variables_order",
    "zend.assertions",
];

/// Allowed keys whose only accepted value is off.
const OFF_ONLY_INI: &[&str] = &["allow_url_fopen"];

/// Settings with their own field in the `php` section.
const OWN_FIELD_INI: &[&str] = &[
    "memory_limit",
    "upload_max_filesize",
    "post_max_size",
    "max_execution_time",
];

fn allowed_ini_keys() -> String {
    let keys: Vec<String> = ALLOWED_INI.iter().map(|k| format!("`{k}`")).collect();
    format!(
        "{} (`allow_url_fopen` only off; see docs/configuration.md)",
        keys.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_body_limit_leaves_room_for_the_multipart_envelope() {
        assert_eq!(post_size_for(1 << 20), "2M");
        assert_eq!(post_size_for(4 << 20), "5M");
        assert_eq!(post_size_for(20 << 20), "22M");
        assert_eq!(post_size_for(64 << 20), "71M");
        assert_eq!(post_size_for(1536 << 10), "3M");
        assert_eq!(post_size_for(1 << 30), "1127M");
        assert_eq!(post_size_for(4 << 30), "4506M");
    }

    #[test]
    fn no_path_or_code_loading_ini_key_is_allowed() {
        for k in [
            "extension",
            "zend_extension",
            "sendmail_path",
            "auto_prepend_file",
            "auto_append_file",
            "include_path",
            "open_basedir",
            "disable_functions",
            "disable_classes",
            "allow_url_include",
            "error_log",
            "mail.log",
            "opcache.enable",
            "opcache.validate_permission",
            "session.save_path",
            "session.save_handler",
            "user_ini.filename",
            "display_errors",
            "log_errors",
            "zlib.output_compression",
            "session.cookie_httponly",
            "session.use_strict_mode",
        ] {
            assert!(!ALLOWED_INI.contains(&k), "{k}");
        }
        let mut sorted = ALLOWED_INI.to_vec();
        sorted.sort_unstable();
        assert_eq!(
            sorted, ALLOWED_INI,
            "keep the list sorted (the docs list it in order)"
        );
    }
}
