//! ACME (RFC 8555) in-process with `instant-acme`: the account, and one certificate order over
//! HTTP-01 for all names of a site. Keys and CSRs are made here with `rcgen` (ECDSA P-256 by
//! default, RSA 2048 on request). Nothing here writes files: the caller publishes the challenge
//! answers and stores what is issued (`engine/tls.rs`, through `host::Root`).

use std::path::Path;
use std::time::Duration;

use crate::config::global::KeyType;
use crate::config::site::Challenge;
use anyhow::{Context, Result, anyhow, bail};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, Problem, RetryPolicy,
};

/// Where the CA is and how lempctl is known to it.
pub(crate) struct Ca<'a> {
    pub directory: &'a str,
    pub email: Option<&'a str>,
    /// A PEM root to trust for the CA's own HTTPS (a private CA); none: the platform's roots.
    pub ca_bundle: Option<&'a Path>,
}

/// What a CA issued: the private key (PKCS#8 PEM) and the chain (leaf first, PEM).
pub(crate) struct Issued {
    pub key_pem: String,
    pub chain_pem: String,
}

/// An ACME order failed; the text quotes the CA's problem document.
#[derive(Debug, thiserror::Error)]
#[error("the CA refused: {0}")]
pub(crate) struct Refused(pub String);

fn builder(ca: &Ca<'_>) -> Result<instant_acme::AccountBuilder> {
    match ca.ca_bundle {
        Some(p) => Account::builder_with_root(p)
            .with_context(|| format!("trusting the CA bundle {}", p.display())),
        None => Account::builder().context("loading the platform's trusted roots"),
    }
}

/// The account: restored from `saved` credentials (JSON), or registered now. Returns the
/// credentials to store when the account is new.
pub(crate) async fn account(
    ca: &Ca<'_>,
    saved: Option<&[u8]>,
) -> Result<(Account, Option<Vec<u8>>)> {
    if let Some(json) = saved {
        let creds: AccountCredentials =
            serde_json::from_slice(json).context("reading the stored ACME account")?;
        let account = builder(ca)?
            .from_credentials(creds)
            .await
            .with_context(|| format!("restoring the ACME account at {}", ca.directory))?;
        return Ok((account, None));
    }
    let mailto = ca.email.map(|e| format!("mailto:{e}"));
    let contact: Vec<&str> = mailto.iter().map(String::as_str).collect();
    let (account, creds) = builder(ca)?
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            ca.directory.to_owned(),
            None,
        )
        .await
        .map_err(|e| {
            quoted(
                e,
                &format!("registering an ACME account at {}", ca.directory),
            )
        })?;
    Ok((account, Some(serde_json::to_vec_pretty(&creds)?)))
}

/// Answers the CA's challenges: the caller puts each answer where the CA will look.
pub(crate) trait Responder {
    /// HTTP-01: serve `answer` at `/.well-known/acme-challenge/<token>` on port 80.
    fn http01(&mut self, token: &str, answer: &str) -> Result<()>;
    /// DNS-01: a TXT record `_acme-challenge.<name>` with `value` (for `*.x`, `name` is `x`).
    fn dns01(&mut self, name: &str, value: &str) -> Result<()>;
    /// Every answer is placed; the CA is told to check them next.
    fn placed(&mut self) -> Result<()>;
}

/// Orders one certificate for `names` (the first is the subject; `*.x` for a wildcard), each
/// checked with `challenge` (`Dns01` for wildcards). The responder is called for each
/// challenge, then `placed` once, before the CA is told to check them.
pub(crate) async fn issue(
    account: &Account,
    names: &[String],
    key: KeyType,
    challenge: Challenge,
    responder: &mut dyn Responder,
) -> Result<Issued> {
    let ids: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
    let mut order = account
        .new_order(&NewOrder::new(&ids))
        .await
        .map_err(|e| quoted(e, "creating the order"))?;
    let kind = match challenge {
        Challenge::Http01 => ChallengeType::Http01,
        Challenge::Dns01 => ChallengeType::Dns01,
    };
    // Every answer is placed first, then the CA is told to check them all: DNS answers may need
    // time to reach the servers the CA asks (`Responder::placed`).
    for ready in [false, true] {
        if ready {
            responder.placed()?;
        }
        let mut authzs = order.authorizations();
        while let Some(a) = authzs.next().await {
            let mut authz = a.map_err(|e| quoted(e, "reading an authorization"))?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                s => bail!(Refused(format!("an authorization is {s:?}"))),
            }
            let mut ch = authz
                .challenge(kind.clone())
                .ok_or_else(|| anyhow!(Refused(format!("the CA offers no {kind:?} challenge"))))?;
            if ready {
                ch.set_ready()
                    .await
                    .map_err(|e| quoted(e, "answering the challenge"))?;
                continue;
            }
            match challenge {
                Challenge::Http01 => {
                    responder.http01(&ch.token, ch.key_authorization().as_str())?;
                }
                Challenge::Dns01 => {
                    let name = match ch.identifier().identifier {
                        Identifier::Dns(d) => d.clone(),
                        other => bail!("the CA asks about {other:?}, not a DNS name"),
                    };
                    responder.dns01(&name, &ch.key_authorization().dns_value())?;
                }
            }
        }
    }
    let retry = RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .timeout(Duration::from_secs(90));
    let status = order
        .poll_ready(&retry)
        .await
        .map_err(|e| quoted(e, "waiting for the CA"))?;
    if status != OrderStatus::Ready {
        bail!(Refused(why_invalid(&mut order).await));
    }
    let (key_pem, csr) = key_and_csr(names, key)?;
    order
        .finalize_csr(&csr)
        .await
        .map_err(|e| quoted(e, "finalizing the order"))?;
    let chain_pem = order
        .poll_certificate(&retry)
        .await
        .map_err(|e| quoted(e, "downloading the certificate"))?;
    Ok(Issued { key_pem, chain_pem })
}

/// The CA's suggested renewal window for a certificate (ACME Renewal Information, RFC 9773),
/// as seconds since the epoch; `None` when the CA offers no ARI.
pub(crate) async fn renewal_window(
    account: &Account,
    leaf_der: &[u8],
) -> Result<Option<(i64, i64)>> {
    let der = rustls::pki_types::CertificateDer::from(leaf_der.to_vec());
    let id = instant_acme::CertificateIdentifier::try_from(&der).map_err(|e| anyhow!("{e}"))?;
    match account.renewal_info(&id).await {
        Ok((info, _)) => Ok(Some((
            info.suggested_window.start.unix_timestamp(),
            info.suggested_window.end.unix_timestamp(),
        ))),
        Err(instant_acme::Error::Unsupported(_)) => Ok(None),
        Err(e) => Err(quoted(e, "asking for the renewal window (ARI)")),
    }
}

/// The CA's own words on an order that became invalid: the order's problem, else the first
/// failed challenge's.
async fn why_invalid(order: &mut instant_acme::Order) -> String {
    if let Ok(state) = order.refresh().await
        && let Some(p) = &state.error
    {
        return problem(p);
    }
    let mut authzs = order.authorizations();
    while let Some(Ok(mut a)) = authzs.next().await {
        if let Ok(state) = a.refresh().await
            && let Some(p) = state.challenges.iter().find_map(|c| c.error.as_ref())
        {
            return problem(p);
        }
    }
    "the order became invalid (the CA gave no reason)".into()
}

fn problem(p: &Problem) -> String {
    let mut s = p.detail.clone().unwrap_or_else(|| "no detail".into());
    if let Some(t) = &p.r#type {
        s.push_str(&format!(" ({t})"));
    }
    for sub in &p.subproblems {
        s.push_str(&format!("; {sub}"));
    }
    s
}

/// An `instant-acme` error, with the problem document quoted when the CA sent one.
fn quoted(e: instant_acme::Error, doing: &str) -> anyhow::Error {
    match e {
        instant_acme::Error::Api(p) => anyhow!(Refused(format!("{doing}: {}", problem(&p)))),
        other => anyhow!(other).context(format!("ACME: {doing}")),
    }
}

/// A new private key (PKCS#8 PEM) and a CSR (DER) naming every one of `names`.
fn key_and_csr(names: &[String], key: KeyType) -> Result<(String, Vec<u8>)> {
    let alg = match key {
        KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyType::Rsa2048 => &rcgen::PKCS_RSA_SHA256,
    };
    let pair = match key {
        KeyType::Rsa2048 => rcgen::KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_2048),
        KeyType::EcdsaP256 => rcgen::KeyPair::generate_for(alg),
    }
    .context("generating the certificate key")?;
    let mut params =
        rcgen::CertificateParams::new(names.to_vec()).context("the certificate's names")?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0].clone());
    let csr = params
        .serialize_request(&pair)
        .context("making the certificate request")?;
    Ok((pair.serialize_pem(), csr.der().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::FromDer;

    #[test]
    fn keys_and_requests_of_both_kinds() {
        let names = vec!["a.example.test".to_owned(), "www.a.example.test".to_owned()];
        for (alg, marker) in [
            (KeyType::EcdsaP256, "BEGIN PRIVATE KEY"),
            (KeyType::Rsa2048, "BEGIN PRIVATE KEY"),
        ] {
            let (pem, csr) = key_and_csr(&names, alg).unwrap();
            assert!(pem.contains(marker), "{pem}");
            let (_, req) =
                x509_parser::certification_request::X509CertificationRequest::from_der(&csr)
                    .unwrap();
            let text = req.certification_request_info.subject.to_string();
            assert!(text.contains("a.example.test"), "{text}");
        }
    }
}
