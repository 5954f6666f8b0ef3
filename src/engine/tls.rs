//! Certificates of sites: ACME issuance and renewal (the protocol in `services::acme`, the files
//! through `host::Root`), which sites serve HTTPS yet, and what each certificate says.
//!
//! A site with `tls: { acme: true }` serves HTTP (with the challenge location) until its
//! certificate exists: `serving` drops its `tls` for the engine until then. Issued files are
//! `<state_dir>/certs/<site>/{privkey,fullchain}.pem`, root-only; the key is written first and
//! the chain last, so a certificate file always has its key.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};

use crate::config::global::Global;
use crate::config::{Config, Site, SiteKind};
use crate::host::{Journal, Perms, Root};
use crate::services::certs::{self, CertInfo};
use crate::services::{acme, dns_update};

/// The configuration as the engine serves it now: sites whose ACME certificate does not exist
/// yet have no `tls` (HTTP with the challenge location; a redirect would lead nowhere). Borrowed
/// as it is when every such certificate exists (the common case: no copy of 1,000 sites).
pub(crate) fn serving<'a>(root: &Root, config: &'a Config) -> Cow<'a, Config> {
    let waiting = |s: &Site| {
        s.tls
            .as_ref()
            .is_some_and(|t| t.acme.is_some() && !root.path(&t.certificate).is_file())
    };
    if !config.sites.iter().any(waiting) {
        return Cow::Borrowed(config);
    }
    let mut out = config.clone();
    for site in out.sites.iter_mut().filter(|s| waiting(s)) {
        site.tls = None;
        if site.kind != SiteKind::Redirect && site.health.status == 301 {
            site.health.status = 200;
        }
    }
    Cow::Owned(out)
}

/// The CA of lempctl.yaml's `acme` section. Its bundle is trust of the machine lempctl runs on
/// (not under --root), as the WordPress source is.
fn ca(conf: &crate::config::global::Acme) -> acme::Ca<'_> {
    acme::Ca {
        directory: &conf.directory,
        email: conf.email.as_deref(),
        ca_bundle: conf.ca_bundle.as_deref(),
    }
}

/// Where the ACME account's credentials are kept (0600).
fn account_file(g: &Global) -> PathBuf {
    g.paths.state_dir.join("acme/account.json")
}

/// Enabled ACME sites among `names` (all when empty) whose certificate is missing or no longer
/// covers every name of the site.
pub(crate) fn missing<'a>(root: &Root, config: &'a Config, names: &'a [String]) -> Vec<&'a Site> {
    acme_sites(config, names)
        .filter(|s| match read_cert(root, s) {
            Ok(Some(c)) => !covers(&c, s),
            _ => true,
        })
        .collect()
}

/// Enabled ACME sites among `names` (all when empty).
pub(crate) fn acme_sites<'a>(
    config: &'a Config,
    names: &'a [String],
) -> impl Iterator<Item = &'a Site> {
    config.sites.iter().filter(move |s| {
        s.enabled
            && s.tls.as_ref().is_some_and(|t| t.acme.is_some())
            && (names.is_empty() || names.iter().any(|n| n == s.name.as_str()))
    })
}

/// Every host name of a site: its name, then its aliases.
pub(crate) fn names(site: &Site) -> Vec<String> {
    std::iter::once(&site.name)
        .chain(&site.aliases)
        .map(|n| n.to_string())
        .collect()
}

/// The names to order: the site's, with `*.<name>` after the name for a wildcard (aliases it
/// covers are left out, as a CA refuses redundant names).
pub(crate) fn order_names(site: &Site) -> Vec<String> {
    if !site.tls.as_ref().is_some_and(|t| t.wildcard) {
        return names(site);
    }
    let wild = format!("*.{}", site.name);
    let mut out = vec![site.name.to_string(), wild.clone()];
    out.extend(
        site.aliases
            .iter()
            .map(|a| a.to_string())
            .filter(|a| !matches_name(&wild, a)),
    );
    out
}

/// A certificate name (`*.x` covers one label more) matches a host name.
pub(crate) fn matches_name(cert_name: &str, host: &str) -> bool {
    match cert_name.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => cert_name == host,
    }
}

/// The certificate covers every name the site should have (and the wildcard if it asks).
fn covers(c: &CertInfo, site: &Site) -> bool {
    order_names(site)
        .iter()
        .all(|n| c.names.iter().any(|cn| cn == n || matches_name(cn, n)))
}

/// The site's certificate file, parsed (`None` when it does not exist).
pub(crate) fn read_cert(root: &Root, site: &Site) -> Result<Option<CertInfo>> {
    let Some(t) = &site.tls else { return Ok(None) };
    let Some(pem) = root.read(&t.certificate)? else {
        return Ok(None);
    };
    let chain = certs::pem_chain(&pem)
        .with_context(|| format!("{}", root.path(&t.certificate).display()))?;
    Ok(Some(certs::info(&chain[0])?))
}

/// What happened to one site's certificate.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Outcome {
    pub site: String,
    /// `issued`, `renewed`, `not-due`, `waiting` (backing off after a failure), `failed`
    pub result: &'static str,
    pub detail: String,
    pub not_after: Option<i64>,
}

/// ACME failures per site, so a site the CA refused is not retried every run (rate limits).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Backoff {
    sites: BTreeMap<String, Failure>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Failure {
    count: u32,
    /// Seconds since the epoch.
    next_try: i64,
    error: String,
}

fn backoff_file(g: &Global) -> PathBuf {
    g.paths.state_dir.join("acme/backoff.json")
}

/// The wait after `count` failures in a row: 1 h, 2 h, 4 h … at most a day.
fn wait_after(count: u32) -> i64 {
    3600_i64 << count.saturating_sub(1).min(5)
}

/// Issues (or re-issues) certificates for `sites`, one order each. A site that failed recently
/// waits for its backoff unless `force`. Returns one outcome per site; failures are outcomes,
/// not errors, so one refused site does not stop the others.
pub(crate) fn issue(
    root: &Root,
    config: &Config,
    sites: &[&Site],
    force: bool,
    result: &'static str,
) -> Result<Vec<Outcome>> {
    let g = &config.global;
    if g.acme.is_none() {
        return Err(anyhow!("no `acme` section in lempctl.yaml"));
    }
    let mut backoff: Backoff = match root.read(&backoff_file(g))? {
        Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
        None => Backoff::default(),
    };
    let now = chrono::Utc::now().timestamp();
    let (mut out, todo) = backoff.split(sites, force, now);
    if todo.is_empty() {
        return Ok(out);
    }
    let rt = crate::services::runtime()?;
    let account = account(root, config, &rt)?;
    for site in todo {
        let issued = order(root, config, &rt, &account, site);
        out.push(match issued.and_then(|i| store(root, site, &i)) {
            Ok(info) => {
                backoff.sites.remove(site.name.as_str());
                Outcome {
                    site: site.name.to_string(),
                    result,
                    detail: format!(
                        "{} by {}, {}, until {}",
                        info.names.join(", "),
                        info.issuer,
                        info.key,
                        when(info.not_after)
                    ),
                    not_after: Some(info.not_after),
                }
            }
            Err(e) => backoff.failed(site, &e, now),
        });
    }
    root.write_private(
        &backoff_file(g),
        &serde_json::to_vec_pretty(&backoff)?,
        0o600,
    )?;
    Ok(out)
}

impl Backoff {
    /// `sites` split into those still waiting after a failure (their outcomes) and those to try.
    fn split<'a>(
        &self,
        sites: &[&'a Site],
        force: bool,
        now: i64,
    ) -> (Vec<Outcome>, Vec<&'a Site>) {
        let mut waiting = Vec::new();
        let mut todo = Vec::new();
        for s in sites {
            match self.sites.get(s.name.as_str()) {
                Some(f) if !force && f.next_try > now => waiting.push(Outcome {
                    site: s.name.to_string(),
                    result: "waiting",
                    detail: format!(
                        "the CA refused {} time(s), last: {}; next try after {} (or use --force)",
                        f.count,
                        f.error,
                        when(f.next_try)
                    ),
                    not_after: None,
                }),
                _ => todo.push(*s),
            }
        }
        (waiting, todo)
    }

    /// Records a failure of `site` and says when it is tried next.
    fn failed(&mut self, site: &Site, e: &anyhow::Error, now: i64) -> Outcome {
        let count = self.sites.get(site.name.as_str()).map_or(0, |f| f.count) + 1;
        let f = Failure {
            count,
            next_try: now + wait_after(count),
            error: format!("{e:#}"),
        };
        let outcome = Outcome {
            site: site.name.to_string(),
            result: "failed",
            detail: format!("{}; next try after {}", f.error, when(f.next_try)),
            not_after: None,
        };
        self.sites.insert(site.name.to_string(), f);
        outcome
    }
}

/// The ACME account: restored from `<state_dir>/acme/account.json`, or registered and saved
/// there (0600).
fn account(
    root: &Root,
    config: &Config,
    rt: &tokio::runtime::Runtime,
) -> Result<instant_acme::Account> {
    let g = &config.global;
    let conf = g.acme.as_ref().context("an `acme` section")?;
    let file = account_file(g);
    let saved = root.read(&file)?;
    let (account, new_creds) = rt.block_on(acme::account(&ca(conf), saved.as_deref()))?;
    if let Some(creds) = new_creds {
        root.write_private(&file, &creds, 0o600)?;
    }
    Ok(account)
}

/// One order for `site`: its names, key type and challenge; the answers are removed afterwards.
fn order(
    root: &Root,
    config: &Config,
    rt: &tokio::runtime::Runtime,
    account: &instant_acme::Account,
    site: &Site,
) -> Result<acme::Issued> {
    let g = &config.global;
    let conf = g.acme.as_ref().context("an `acme` section")?;
    let t = site.tls.as_ref().context("an ACME site has tls")?;
    let challenges = super::desire::acme_root(g).join(".well-known/acme-challenge");
    let mut answers = Answers {
        root,
        dir: &challenges,
        acme: conf,
        files: Vec::new(),
        records: Vec::new(),
    };
    let key = t.acme.unwrap_or(conf.key_type);
    let issued = rt.block_on(acme::issue(
        account,
        &order_names(site),
        key,
        t.challenge,
        &mut answers,
    ));
    answers.clean_up();
    issued
}

/// Puts challenge answers where the CA looks: files in the shared challenge directory (HTTP-01),
/// TXT records through `acme.dns_hook` or RFC 2136 updates (DNS-01); `clean_up` removes them all
/// afterwards.
struct Answers<'a> {
    root: &'a Root,
    dir: &'a std::path::Path,
    acme: &'a crate::config::global::Acme,
    files: Vec<PathBuf>,
    records: Vec<(String, String)>,
}

impl Answers<'_> {
    /// Adds (`add`) or removes the TXT record `fqdn` = `value`.
    fn record(&self, add: bool, fqdn: &str, value: &str) -> Result<()> {
        if let Some(u) = &self.acme.dns_update {
            return if add {
                dns_update::add(u, fqdn, value)
            } else {
                dns_update::remove(u, fqdn, value)
            };
        }
        let hook = self
            .acme
            .dns_hook
            .as_deref()
            .context("DNS-01 without `acme.dns_hook`")?;
        let action = if add { "add" } else { "remove" };
        crate::host::exec::Cmd::new(hook)
            .args([action, fqdn, value])
            .run()
            .with_context(|| format!("the DNS hook {} {action} {fqdn}", hook.display()))?;
        Ok(())
    }

    fn clean_up(&mut self) {
        for p in std::mem::take(&mut self.files) {
            let _ = self.root.remove(&mut Journal::default(), &p);
        }
        for (fqdn, value) in std::mem::take(&mut self.records) {
            if let Err(e) = self.record(false, &fqdn, &value) {
                tracing::warn!("{e:#}");
            }
        }
    }
}

impl acme::Responder for Answers<'_> {
    fn http01(&mut self, token: &str, answer: &str) -> Result<()> {
        if !token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(anyhow!(
                "the CA sent a token that is not a file name: {token:?}"
            ));
        }
        let path = self.dir.join(token);
        self.root.write_atomic(
            &mut Journal::default(),
            &path,
            answer.as_bytes(),
            &Perms::root(0o644),
        )?;
        self.files.push(path);
        Ok(())
    }

    fn dns01(&mut self, name: &str, value: &str) -> Result<()> {
        let fqdn = format!("_acme-challenge.{name}");
        self.record(true, &fqdn, value)?;
        self.records.push((fqdn, value.to_owned()));
        Ok(())
    }

    fn placed(&mut self) -> Result<()> {
        let wait = self
            .acme
            .dns_update
            .as_ref()
            .map_or(0, |u| u.propagation_seconds);
        if !self.records.is_empty() && wait > 0 {
            std::thread::sleep(std::time::Duration::from_secs(wait.into()));
        }
        Ok(())
    }
}

/// Writes an issued key and chain (key first: the chain is what makes a site serve HTTPS).
fn store(root: &Root, site: &Site, issued: &acme::Issued) -> Result<CertInfo> {
    let t = site.tls.as_ref().context("an ACME site has tls")?;
    let chain = certs::pem_chain(issued.chain_pem.as_bytes()).context("the issued chain")?;
    let info = certs::info(&chain[0])?;
    let mut j = Journal::default();
    if let Some(dir) = t.certificate.parent() {
        root.ensure_dir(&mut j, dir, &Perms::root(0o700))?;
    }
    root.write_atomic(
        &mut j,
        &t.key,
        issued.key_pem.as_bytes(),
        &Perms::root(0o600),
    )?;
    root.write_atomic(
        &mut j,
        &t.certificate,
        issued.chain_pem.as_bytes(),
        &Perms::root(0o644),
    )?;
    Ok(info)
}

/// When a certificate is due for renewal: two-thirds into its lifetime, minus up to a tenth of
/// the lifetime of jitter fixed per site (so 1,000 sites do not renew in the same minute).
pub(crate) fn renew_at(c: &CertInfo, site: &str) -> i64 {
    let life = (c.not_after - c.not_before).max(1);
    let spread = fxhash(site) % 1000;
    c.not_before + life * 2 / 3 - life / 10 * spread as i64 / 1000
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// RFC 3339 in UTC, to the second.
pub(crate) fn when(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map_or_else(
        || t.to_string(),
        |d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// When certificates are due: the CA's suggested window (ARI, RFC 9773) where the CA offers one,
/// else `renew_at` (two-thirds of the lifetime). A point in the window fixed per site spreads
/// 1,000 sites over it.
struct Renewals {
    ari: Option<(tokio::runtime::Runtime, instant_acme::Account)>,
}

impl Renewals {
    /// Asks the CA only when an account exists (a host that never issued has nothing to renew).
    fn open(root: &Root, config: &Config) -> Self {
        let ari = (|| {
            let conf = config.global.acme.as_ref()?;
            let saved = root.read(&account_file(&config.global)).ok()??;
            let rt = crate::services::runtime().ok()?;
            let (account, _) = rt.block_on(acme::account(&ca(conf), Some(&saved))).ok()?;
            Some((rt, account))
        })();
        Self { ari }
    }

    /// When `c` of `site` is due, and by which rule.
    fn at(&mut self, c: &CertInfo, site: &str) -> (i64, &'static str) {
        if let Some((rt, account)) = &self.ari {
            match rt.block_on(acme::renewal_window(account, &c.der)) {
                Ok(Some((start, end))) => {
                    let spread = (fxhash(site) % 1000) as i64;
                    return (
                        start + (end - start).max(0) * spread / 1000,
                        "the CA's window (ARI)",
                    );
                }
                // the CA has no ARI: do not ask again this run
                Ok(None) => self.ari = None,
                Err(e) => tracing::warn!("{site}: {e:#}; using two-thirds of the lifetime"),
            }
        }
        (renew_at(c, site), "two-thirds of its lifetime")
    }
}

/// The ACME sites of `names` (all when empty) that `renew` would renew now.
pub(crate) fn due<'a>(
    root: &Root,
    config: &'a Config,
    names: &'a [String],
    force: bool,
) -> Vec<&'a Site> {
    let now = chrono::Utc::now().timestamp();
    let mut renewals = Renewals::open(root, config);
    acme_sites(config, names)
        .filter(|s| force || !current(root, s, now, &mut renewals))
        .collect()
}

/// The site's certificate exists, covers its names and is not due.
fn current(root: &Root, site: &Site, now: i64, renewals: &mut Renewals) -> bool {
    matches!(read_cert(root, site), Ok(Some(c)) if covers(&c, site) && renewals.at(&c, site.name.as_str()).0 > now)
}

/// Renews the ACME certificates of `names` (all when empty) that are due (all with `force`).
/// Returns the outcomes and whether any certificate changed (nginx must then reload once).
pub(crate) fn renew(
    root: &Root,
    config: &Config,
    names: &[String],
    force: bool,
) -> Result<(Vec<Outcome>, bool)> {
    let now = chrono::Utc::now().timestamp();
    let mut renewals = Renewals::open(root, config);
    let mut out = Vec::new();
    let mut due = Vec::new();
    for site in acme_sites(config, names) {
        let cert = read_cert(root, site)
            .ok()
            .flatten()
            .filter(|c| covers(c, site));
        let Some(c) = cert.filter(|_| !force) else {
            due.push(site);
            continue;
        };
        let (at, rule) = renewals.at(&c, site.name.as_str());
        if at <= now {
            due.push(site);
            continue;
        }
        out.push(Outcome {
            site: site.name.to_string(),
            result: "not-due",
            detail: format!(
                "valid until {}; renewal from {} ({rule})",
                when(c.not_after),
                when(at)
            ),
            not_after: Some(c.not_after),
        });
    }
    if due.is_empty() {
        return Ok((out, false));
    }
    let done = issue(root, config, &due, force, "renewed")?;
    let changed = done.iter().any(|o| o.result == "renewed");
    out.extend(done);
    Ok((out, changed))
}
