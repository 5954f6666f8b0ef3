//! `lempctl site …`: its arguments, their conversion into options and its human output.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};

use super::GlobalArgs;
use super::printer::{self, Printer};
use crate::config::{Fqdn, SiteKind, UsageError, fqdn};
use crate::ops::{self, Context};

/// The value parser of every site-name argument: a command gets a `Fqdn`, parsed once, and a bad
/// name is refused by clap (exit 2) with what is wrong with it.
pub(super) fn site_name(s: &str) -> Result<Fqdn, String> {
    Fqdn::parse(s).map_err(|why| {
        format!(
            "invalid site name `{s}`: {why}\n  allowed: {}",
            fqdn::ALLOWED
        )
    })
}

/// A site's kind as `--kind` takes it (clap refuses any other value and lists these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Php,
    Static,
    Wordpress,
    Redirect,
    Proxy,
}

impl From<KindArg> for SiteKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Php => Self::Php,
            KindArg::Static => Self::Static,
            KindArg::Wordpress => Self::Wordpress,
            KindArg::Redirect => Self::Redirect,
            KindArg::Proxy => Self::Proxy,
        }
    }
}

/// Settings `site create` and `site update` both take.
#[derive(Debug, Args)]
pub struct SiteSettingsArgs {
    /// PHP `memory_limit` (e.g. 256M).
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// PHP-FPM `pm.max_children`.
    #[arg(long, value_name = "N")]
    pub max_children: Option<u32>,
    /// Largest upload (e.g. 128M): sets nginx's body limit and PHP's upload limits together.
    #[arg(long, value_name = "SIZE")]
    pub upload_max_size: Option<String>,
    /// Page cache: `fastcgi` or `none` (WordPress sites).
    #[arg(long, value_name = "CACHE")]
    pub cache: Option<String>,
    /// Serve TLS with this certificate (full chain) file; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_certificate: Option<PathBuf>,
    /// The certificate's private key file; needs --tls-certificate.
    #[arg(long, value_name = "FILE", requires = "tls_certificate")]
    pub tls_key: Option<PathBuf>,
}

impl SiteSettingsArgs {
    fn changes(&self) -> ops::site::SiteChanges {
        ops::site::SiteChanges {
            memory_limit: self.memory_limit.clone(),
            max_children: self.max_children,
            upload_max_size: self.upload_max_size.clone(),
            cache: self.cache.clone(),
            tls_files: self.tls_certificate.clone().zip(self.tls_key.clone()),
            ..Default::default()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Write sites.d/NAME.yaml and converge the new site.
    Create {
        #[arg(value_parser = site_name)]
        name: Fqdn,
        /// php, static, wordpress, redirect or proxy.
        #[arg(long)]
        kind: KindArg,
        /// Another host name served by the site (repeatable).
        #[arg(long = "alias", value_name = "NAME")]
        aliases: Vec<String>,
        /// PHP version of the site's pool (php and wordpress sites).
        #[arg(long, value_name = "V")]
        php_version: Option<String>,
        /// Target URL of a redirect site.
        #[arg(long, value_name = "URL")]
        to: Option<String>,
        /// The application behind a proxy site: `127.0.0.1:PORT` or `unix:/PATH`.
        #[arg(long, value_name = "ADDRESS")]
        upstream: Option<String>,
        /// Create the site disabled (files only, not served).
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        settings: SiteSettingsArgs,
    },
    /// Change a site's common settings: edits its site file (which stays the truth) and converges.
    Update {
        #[arg(value_parser = site_name)]
        name: Fqdn,
        /// PHP version of the site's pool.
        #[arg(long, value_name = "V")]
        php_version: Option<String>,
        /// Replace the aliases with these host names (repeatable).
        #[arg(long = "alias", value_name = "NAME", conflicts_with = "no_aliases")]
        aliases: Vec<String>,
        /// Remove every alias.
        #[arg(long)]
        no_aliases: bool,
        /// Serve no TLS (removes the `tls` section).
        #[arg(long, conflicts_with = "tls_certificate")]
        no_tls: bool,
        #[command(flatten)]
        settings: SiteSettingsArgs,
    },
    /// Write whole site files (validated as apply reads them) and converge those sites.
    ///
    /// For configuration management (the Ansible `site` and `sites` modules): the text comes
    /// from FILE, or from stdin with `-`. With NAME it is one site file whose `name:` must be
    /// NAME; without, any number of site files separated by `---` lines, all converged in one
    /// run. Each replaces the file its site is read from (`sites.d/NAME.yaml` for a new site); an
    /// invalid file is refused with exit 2 and nothing written, a failed converge puts every old
    /// file back. With --dry-run nothing is written and the report starts with the site files'
    /// own diffs.
    Put {
        #[arg(value_parser = site_name)]
        name: Option<Fqdn>,
        /// The site file to install (`-`: read it from stdin).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Make a new site DST from a live copy of SRC: its own user, pool, database and
    /// credentials; SRC's files and database (one consistent dump) copied, and for WordPress
    /// every URL of SRC's name rewritten to DST's, inside serialized values too (GUIDs kept).
    ///
    /// The copy is a staging site unless --public: it answers with `X-Robots-Tag: noindex` and
    /// asks for HTTP basic auth (user `staging`, password in its credentials file). SRC is only
    /// read. Writes sites.d/DST.yaml from SRC's file without what publishes SRC (aliases, TLS,
    /// S3, the WordPress URL).
    Clone {
        #[arg(value_parser = site_name)]
        src: Fqdn,
        #[arg(value_parser = site_name)]
        dst: Fqdn,
        /// Another host name served by the copy (repeatable).
        #[arg(long = "alias", value_name = "NAME")]
        aliases: Vec<String>,
        /// Copy the files only: the copy keeps the database its creation gave it.
        #[arg(long)]
        no_db: bool,
        /// The copy's kind, when it differs from SRC's (a WordPress database is then not copied: add --no-db).
        #[arg(long)]
        kind: Option<KindArg>,
        /// No noindex header and no basic auth: the copy is public.
        #[arg(long)]
        public: bool,
    },
    /// Copy a staging site back over its production site, with a backup first and an automatic
    /// rollback.
    ///
    /// Backs PROD up (the backup repository must be configured), copies STAGING's files and/or
    /// database over PROD's (PROD keeps its own wp-config.php, user and credentials), rewrites
    /// STAGING's URLs back to PROD's, purges PROD's page cache, converges PROD and checks its
    /// health. If any of that fails, PROD is restored from the backup and the command exits 1.
    /// The backup's id is printed to roll back by hand later.
    Promote {
        #[arg(value_parser = site_name)]
        staging: Fqdn,
        #[arg(value_parser = site_name)]
        prod: Fqdn,
        /// Copy the files only.
        #[arg(long, conflicts_with = "db_only")]
        files_only: bool,
        /// Copy the database only.
        #[arg(long)]
        db_only: bool,
        /// Copy only this table (without the WordPress table prefix; repeatable).
        #[arg(
            long = "include-table",
            value_name = "TABLE",
            conflicts_with = "exclude_tables"
        )]
        include_tables: Vec<String>,
        /// Keep production's own rows of this table (without the prefix; repeatable), e.g. a
        /// shop's orders and customers.
        #[arg(long = "exclude-table", value_name = "TABLE")]
        exclude_tables: Vec<String>,
        /// Do not ask (required when stdin is not a terminal).
        #[arg(long, short)]
        yes: bool,
    },
    /// Remove a site's configuration; its data stays unless --purge (then archived first).
    Remove {
        #[arg(value_parser = site_name)]
        name: Fqdn,
        /// Archive the site's tree, then delete it and the site's user (with a backup repository: a final backup run first).
        #[arg(long)]
        purge: bool,
        /// Do not ask (required when stdin is not a terminal).
        #[arg(long, short)]
        yes: bool,
    },
    /// List sites: kind, PHP, cache, TLS, state (with --json: their paths and derived names).
    List {
        /// Only enabled sites.
        #[arg(long, conflicts_with = "disabled")]
        enabled: bool,
        /// Only disabled sites.
        #[arg(long)]
        disabled: bool,
        /// Only sites of this kind (php, static, wordpress, redirect).
        #[arg(long, value_name = "KIND")]
        kind: Option<KindArg>,
        /// Only the names, one per line (for scripts and shell completion).
        #[arg(long)]
        names: bool,
    },
    /// Show one site: kind, PHP and its limits, cache, TLS, paths, logs, database, backups.
    Show {
        #[arg(value_parser = site_name)]
        name: Fqdn,
    },
    /// Serve a site again.
    Enable {
        #[arg(value_parser = site_name)]
        name: Fqdn,
    },
    /// Stop serving a site (its files and data stay).
    Disable {
        #[arg(value_parser = site_name)]
        name: Fqdn,
    },
}

/// Runs `lempctl site …`.
pub(super) fn run(
    ctx: &Context,
    s: &SiteCommand,
    p: &Printer,
    g: &GlobalArgs,
    wait: Duration,
) -> Result<()> {
    match s {
        SiteCommand::Create {
            name,
            kind,
            aliases,
            php_version,
            to,
            upstream,
            disabled,
            settings,
        } => {
            let o = ops::site::CreateOptions {
                settings: settings.changes(),
                name: name.to_string(),
                kind: (*kind).into(),
                aliases: aliases.clone(),
                php_version: php_version.clone(),
                redirect_to: to.clone(),
                upstream: upstream.clone(),
                disabled: *disabled,
                dry_run: g.dry_run,
                wait,
            };
            p.report(&ops::site::create(ctx, &o)?);
        }
        SiteCommand::Put { name, file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
                    .map_err(|e| anyhow::anyhow!("reading the site file from stdin: {e}"))?
            } else {
                std::fs::read_to_string(file)
                    .map_err(|e| UsageError(format!("{}: {e}", file.display())))?
            };
            let o = ops::site::PutOptions {
                name: name.clone(),
                text,
                dry_run: g.dry_run,
                diffs: g.verbose > 0,
                wait,
            };
            p.report(&ops::site::put(ctx, &o)?);
        }
        SiteCommand::Clone {
            src,
            dst,
            aliases,
            no_db,
            kind,
            public,
        } => {
            let o = ops::staging::CloneOptions {
                src: src.to_string(),
                dst: dst.to_string(),
                aliases: aliases.clone(),
                no_db: *no_db,
                kind: kind.map(SiteKind::from),
                public: *public,
                dry_run: g.dry_run,
                wait,
            };
            p.data(&ops::staging::clone(ctx, &o)?, clone_text);
        }
        SiteCommand::Promote {
            staging,
            prod,
            files_only,
            db_only,
            include_tables,
            exclude_tables,
            yes,
        } => {
            if !yes && !g.dry_run {
                if !std::io::stdin().is_terminal() {
                    return Err(UsageError(format!(
                        "`site promote {staging} {prod}` needs --yes when stdin is not a terminal"
                    ))
                    .into());
                }
                if !p.confirm(&format!(
                    "Copy `{staging}` over `{prod}` (after a backup of `{prod}`)?"
                )) {
                    return Err(UsageError("not confirmed; nothing was changed".into()).into());
                }
            }
            let o = ops::staging::PromoteOptions {
                staging: staging.to_string(),
                prod: prod.to_string(),
                files: !db_only,
                db: !files_only,
                include_tables: include_tables.clone(),
                exclude_tables: exclude_tables.clone(),
                dry_run: g.dry_run,
                wait,
            };
            p.data(&ops::staging::promote(ctx, &o)?, promote_text);
        }
        SiteCommand::Remove { name, purge, yes } => {
            if !yes && !g.dry_run {
                if !std::io::stdin().is_terminal() {
                    return Err(UsageError(format!(
                        "`site remove {name}` needs --yes when stdin is not a terminal"
                    ))
                    .into());
                }
                let what = if *purge {
                    "its configuration, user and data (archived first)"
                } else {
                    "its configuration (data is kept)"
                };
                if !p.confirm(&format!("Remove site `{name}`: {what}?")) {
                    return Err(UsageError("not confirmed; nothing was changed".into()).into());
                }
            }
            let o = ops::site::RemoveOptions {
                name: name.to_string(),
                purge: *purge,
                dry_run: g.dry_run,
                wait,
            };
            p.report(&ops::site::remove(ctx, &o)?);
        }
        SiteCommand::List {
            enabled,
            disabled,
            kind,
            names,
        } => {
            let filter = ops::site::ListFilter {
                enabled: match (enabled, disabled) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                kind: kind.map(SiteKind::from),
            };
            let sites = ops::site::list(ctx, &filter)?;
            if *names {
                let names: Vec<&str> = sites.iter().map(|s| s.name.as_str()).collect();
                p.data(&names, |n| n.join("\n"));
            } else {
                p.data(&sites, printer::sites_table);
            }
        }
        SiteCommand::Show { name } => {
            p.data(&ops::site::show(ctx, name.as_str())?, printer::site_text)
        }
        SiteCommand::Update {
            name,
            php_version,
            aliases,
            no_aliases,
            no_tls,
            settings,
        } => {
            let changes = ops::site::SiteChanges {
                php_version: php_version.clone(),
                aliases: if *no_aliases {
                    Some(Vec::new())
                } else {
                    (!aliases.is_empty()).then(|| aliases.clone())
                },
                no_tls: *no_tls,
                ..settings.changes()
            };
            p.report(&ops::site::update(
                ctx,
                name.as_str(),
                &changes,
                g.dry_run,
                wait,
            )?)
        }
        SiteCommand::Enable { name } => p.report(&ops::site::set_enabled(
            ctx,
            name.as_str(),
            true,
            g.dry_run,
            wait,
        )?),
        SiteCommand::Disable { name } => p.report(&ops::site::set_enabled(
            ctx,
            name.as_str(),
            false,
            g.dry_run,
            wait,
        )?),
    }
    Ok(())
}

/// `, WordPress URLs rewritten (…)` for a copy's output.
pub(super) fn rewrite_summary(s: &ops::staging::ReplaceStats) -> String {
    format!(
        ", WordPress URLs rewritten ({} plain and {} serialized values in {} columns)",
        s.plain_rows, s.serialized_rows, s.columns
    )
}

fn clone_text(r: &ops::staging::CloneResult) -> String {
    let c = &r.copied;
    let mut out = if r.dry_run {
        format!(
            "would create {} ({}) from a live copy of {}",
            r.new_site,
            r.kind.as_str(),
            r.site
        )
    } else {
        format!(
            "{}: a copy of {} ({} files, database: {}{}) in {:.1}s",
            r.new_site,
            r.site,
            c.files.unwrap_or(0),
            c.database.as_deref().unwrap_or("not copied"),
            c.urls_rewritten
                .as_ref()
                .map(rewrite_summary)
                .unwrap_or_default(),
            c.seconds
        )
    };
    if r.noindex {
        out.push_str("\n  hidden from search engines (X-Robots-Tag: noindex)");
    }
    if let Some(u) = &r.basic_auth_user {
        out.push_str(&format!(
            "\n  basic auth: user `{u}`, password `basic_auth_password` in {}",
            r.credentials
        ));
    }
    if r.admin_password_set {
        out.push_str("\n  the admin password is the one stored for the new site (`lempctl wp login-url` says where)");
    }
    out
}

fn promote_text(r: &ops::staging::PromoteResult) -> String {
    if r.dry_run {
        return format!("would back up {} and copy {} over it", r.site, r.staging);
    }
    let mut out = format!(
        "{}: promoted from {} in {:.1}s (files: {}, database: {}{})",
        r.site,
        r.staging,
        r.seconds,
        r.files.map_or("not copied".to_owned(), |n| n.to_string()),
        r.database.as_deref().unwrap_or("not copied"),
        r.urls_rewritten
            .as_ref()
            .map(rewrite_summary)
            .unwrap_or_default()
    );
    if !r.tables_kept.is_empty() {
        out.push_str(&format!(
            "\n  kept production's tables: {}",
            r.tables_kept.join(", ")
        ));
    }
    if !r.tables_only.is_empty() {
        out.push_str(&format!("\n  copied only: {}", r.tables_only.join(", ")));
    }
    if let Some(run) = &r.backup_run {
        out.push_str(&format!(
            "\n  backup taken first: {run} (`lempctl backup restore {} --snapshot {run}` rolls back)",
            r.site
        ));
    }
    out
}
