//! A new site made from a copy of another's site file (`backup restore --as`, `site clone`):
//! the name checked, the file renamed without what publishes the original, validated as `apply`
//! reads it, written and converged; then, once data is in, re-converged and given its own
//! WordPress admin password.

use anyhow::{Context as _, Result};

use super::Context;
use crate::config::{self, Config, ConfigError, ConfigErrors, Fqdn, Site, UsageError};
use crate::engine::{self, RunOptions, Scope};

/// The name of a copy of `old`: valid, not `old`'s, not taken by a site or a site file.
pub(crate) fn new_name(config: &Config, ctx: &Context, old: &Site, name: &str) -> Result<Fqdn> {
    let new = Fqdn::parse(name)
        .map_err(|why| UsageError(format!("invalid site name `{name}`: {why}")))?;
    if new == old.name {
        return Err(UsageError(format!("a copy of `{new}` needs another name")).into());
    }
    let file = ctx
        .root
        .path(&config.global.paths.sites_dir.join(format!("{new}.yaml")));
    if config.site(&new).is_some() || config.broken_site(new.as_str()).is_some() || file.exists() {
        return Err(UsageError(format!("site `{new}` already exists")).into());
    }
    Ok(new)
}

/// A copy's site file, validated and not yet written.
pub(crate) struct Copy {
    pub new: Fqdn,
    pub site: Site,
    host_file: std::path::PathBuf,
    text: String,
    wait: std::time::Duration,
}

/// Makes and validates the site file of `new` from `old`'s: `header`, the renamed text, then
/// `edit`. Adds the new site to `config`; writes nothing. Bad input is a `UsageError`.
pub(crate) fn prepare(
    ctx: &Context,
    config: &mut Config,
    old: &Site,
    new: &Fqdn,
    header: &str,
    edit: impl FnOnce(String) -> Result<String>,
    wait: std::time::Duration,
) -> Result<Copy> {
    let g = config.global.clone();
    let host_file = g.paths.sites_dir.join(format!("{new}.yaml"));
    let real_file = ctx.root.path(&host_file);
    let old_text = std::fs::read_to_string(&old.file)
        .with_context(|| format!("reading {}", old.file.display()))?;
    let text = edit(format!("{header}\n{}", renamed_site_yaml(&old_text, new)))?;
    let mut errors: Vec<ConfigError> = Vec::new();
    let file: config::file::SiteFile =
        config::parse_yaml(&real_file, &text).map_err(|e| UsageError(e.to_string()))?;
    check_not_copied(&file, &old.file)?;
    let site = ctx.validate_site(&real_file, file, &g, &mut errors);
    let Some(site) = site.filter(|_| errors.is_empty()) else {
        return Err(UsageError(ConfigErrors(errors).to_string()).into());
    };
    config.sites.push(site.clone());
    config.check_unique(&mut errors);
    if !errors.is_empty() {
        return Err(UsageError(ConfigErrors(errors).to_string()).into());
    }
    Ok(Copy {
        new: new.clone(),
        site,
        host_file,
        text,
        wait,
    })
}

impl Copy {
    fn run(&self) -> RunOptions {
        RunOptions {
            scope: Scope::Sites(vec![self.new.clone()]),
            wait: self.wait,
            ..RunOptions::default()
        }
    }

    /// Writes the site file and converges the new site (put back when that fails).
    pub(crate) fn create(&self, ctx: &Context, config: &Config) -> Result<Site> {
        ctx.root.write_then(
            &self.host_file,
            self.text.as_bytes(),
            &crate::host::Perms::root(0o644),
            || engine::run(&ctx.root, config, &self.run()),
        )?;
        Ok(self.site.clone())
    }

    /// After the data is in: converges again (renders what the copied files must not carry
    /// over, wp-config.php) and, when a WordPress database was copied (it carries the source's
    /// admin password), sets the one stored for the new site. True when it did.
    pub(crate) fn finish(&self, ctx: &Context, config: &Config, copied_db: bool) -> Result<bool> {
        engine::run(&ctx.root, config, &self.run())?;
        let (true, Some(_)) = (copied_db, &self.site.wordpress) else {
            return Ok(false);
        };
        let g = &config.global;
        let new = &self.new;
        let stored = engine::secrets::load(&ctx.root, &engine::secrets::path(g, new.as_str()))?;
        let Some(pw) = stored.wp_admin_password else {
            return Ok(false);
        };
        crate::services::wordpress::set_admin_password(&ctx.root, g, &self.site, &pw)
            .with_context(|| {
                format!(
                    "setting the stored admin password of `{new}` (`lempctl wp admin-password {new}` sets a new one)"
                )
            })?;
        Ok(true)
    }

    /// The context of a failure after the site was created.
    pub(crate) fn failed(&self, what: &str) -> String {
        let new = &self.new;
        format!(
            "site `{new}` was created but {what} failed; `lempctl site remove {new} --purge` removes it"
        )
    }
}

/// What a copy of a site file must not carry over: the other site's host names and everything
/// that publishes it (its bucket, its certificates, its URL). The new site gets its own URL from
/// its name.
const NOT_COPIED: &[&str] = &["aliases", "s3", "tls", "wordpress.url"];

/// The site file of `new` made from the one of the backed-up site: the new name, without the
/// sections in `NOT_COPIED` (block-style YAML; comments elsewhere are kept).
fn renamed_site_yaml(text: &str, new: &crate::config::Fqdn) -> String {
    let mut out = String::new();
    // Keys of the mappings the current line is in, with their indentation.
    let mut parents: Vec<(usize, String)> = Vec::new();
    // While dropping an entry: the indentation of its key.
    let mut dropping: Option<usize> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(at) = dropping {
            let inside = trimmed.is_empty()
                || indent > at
                || (indent == at && (trimmed.starts_with("- ") || trimmed == "-"));
            if inside {
                continue;
            }
            dropping = None;
        }
        let key = trimmed.split_once(':').map(|(k, _)| k).filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        });
        if let Some(key) = key {
            parents.retain(|(i, _)| *i < indent);
            let path: Vec<&str> = parents
                .iter()
                .map(|(_, k)| k.as_str())
                .chain([key])
                .collect();
            if NOT_COPIED.contains(&path.join(".").as_str()) {
                dropping = Some(indent);
                continue;
            }
            parents.push((indent, key.to_owned()));
            if indent == 0 && key == "name" {
                out.push_str(&format!("name: {new}\n"));
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Refuses a copy that still has a section `renamed_site_yaml` removes (written in flow style,
/// which the line-based edit does not see).
fn check_not_copied(
    file: &crate::config::file::SiteFile,
    path: &std::path::Path,
) -> Result<(), UsageError> {
    let left = [
        ("aliases", !file.aliases.is_empty()),
        ("s3", file.s3.is_some()),
        ("tls", file.tls.is_some()),
        (
            "wordpress.url",
            file.wordpress.as_ref().is_some_and(|w| w.url.is_some()),
        ),
    ];
    match left.iter().find(|(_, there)| *there) {
        None => Ok(()),
        Some((field, _)) => Err(UsageError(format!(
            "{}: `{field}` could not be removed from the copy of the site file (it is written in \
             YAML flow style); a restored copy must not publish as the original site. Rewrite that \
             section in block style and try again",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renamed_site_file_has_the_new_name_and_no_aliases() {
        let new = crate::config::Fqdn::parse("copy.test").unwrap();
        let t = super::renamed_site_yaml(
            "name: a.test\nkind: php\naliases:\n  - www.a.test\n  - \"b.test\"\ndb: {}\n",
            &new,
        );
        assert_eq!(t, "name: copy.test\nkind: php\ndb: {}\n");
        let t = super::renamed_site_yaml("aliases: [x.test]\nname: a.test\n", &new);
        assert_eq!(t, "name: copy.test\n");
        let t = super::renamed_site_yaml("aliases:\n- www.a.test\n- b.test\nkind: php\n", &new);
        assert_eq!(t, "kind: php\n");
    }

    #[test]
    fn renamed_site_file_does_not_publish_as_the_original() {
        let new = crate::config::Fqdn::parse("copy.test").unwrap();
        let t = super::renamed_site_yaml(
            "# prod\nname: a.test\nkind: wordpress\ntls:\n  certificate: /etc/ssl/a.pem\n  key: /etc/ssl/a.key\n\
             wordpress:\n  title: A\n  url: https://a.test\n  # keep\n  locale: de_DE\n\
             s3: {bucket: prod-bucket}\ndb:\n  charset: utf8mb4\nbackup:\n  keep_last: 3\n",
            &new,
        );
        assert_eq!(
            t,
            "# prod\nname: copy.test\nkind: wordpress\nwordpress:\n  title: A\n  # keep\n  locale: de_DE\n\
             db:\n  charset: utf8mb4\nbackup:\n  keep_last: 3\n"
        );
        // `url` is only dropped inside `wordpress`.
        let t = super::renamed_site_yaml("name: a.test\nredirect:\n  url: x\n", &new);
        assert_eq!(t, "name: copy.test\nredirect:\n  url: x\n");
    }

    #[test]
    fn a_copy_that_kept_a_publishing_section_is_refused() {
        let p = std::path::Path::new("a.yaml");
        let text = super::renamed_site_yaml(
            "name: a.test\nkind: wordpress\nwordpress: {url: \"https://a.test\"}\n",
            &crate::config::Fqdn::parse("copy.test").unwrap(),
        );
        let f: crate::config::file::SiteFile = crate::config::parse_yaml(p, &text).unwrap();
        let e = super::check_not_copied(&f, p).unwrap_err();
        assert!(e.to_string().contains("`wordpress.url`"), "{e}");
    }
}
