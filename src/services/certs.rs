//! Certificates as data: what a PEM chain says (names, issuer, validity, key), whether a chain
//! is trusted for a name, and what a TLS endpoint serves (a handshake with SNI that records the
//! chain whatever it is, so a wrong or expired certificate is reported, not refused).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// What one certificate says.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct CertInfo {
    /// DNS names of the subject alternative names (the subject's CN when there are none).
    pub names: Vec<String>,
    pub issuer: String,
    pub serial: String,
    /// Seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// `ECDSA P-256`, `RSA 2048`, …
    pub key: String,
    /// Where the CA publishes OCSP answers (the `stapling` nginx can do).
    pub ocsp: bool,
    /// The certificate itself (DER), to compare and to name it to the CA (ARI).
    #[serde(skip)]
    pub der: Vec<u8>,
}

/// The certificates of a PEM text, leaf first.
pub(crate) fn pem_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("not a PEM certificate file: {e:?}"))?;
    if chain.is_empty() {
        bail!("no certificate in the file");
    }
    Ok(chain)
}

/// Parses one DER certificate.
pub(crate) fn info(der: &[u8]) -> Result<CertInfo> {
    use x509_parser::prelude::*;
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| anyhow!("not a certificate: {e}"))?;
    let mut names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty()
        && let Some(cn) = cert.subject().iter_common_name().next()
        && let Ok(cn) = cn.as_str()
    {
        names.push(cn.to_owned());
    }
    let issuer = cert
        .issuer()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map_or_else(|| cert.issuer().to_string(), str::to_owned);
    let spki = cert.public_key();
    let key = match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::EC(p)) => match p.key_size() {
            256 => "ECDSA P-256".to_owned(),
            384 => "ECDSA P-384".to_owned(),
            n => format!("ECDSA {n}"),
        },
        Ok(x509_parser::public_key::PublicKey::RSA(r)) => format!("RSA {}", r.key_size()),
        _ => "other".to_owned(),
    };
    let ocsp = cert.extensions().iter().any(|e| {
        matches!(e.parsed_extension(), ParsedExtension::AuthorityInfoAccess(aia)
            if aia.accessdescs.iter().any(|d| d.access_method.to_id_string() == "1.3.6.1.5.5.7.48.1"))
    });
    Ok(CertInfo {
        names,
        issuer,
        serial: cert.raw_serial_as_string().replace(':', ""),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        key,
        ocsp,
        der: der.to_vec(),
    })
}

/// Trust anchors: the certificates of a PEM bundle (a private CA, or the system's
/// `/etc/ssl/certs/ca-certificates.crt`).
pub(crate) fn roots(pem: &[u8]) -> Result<rustls::RootCertStore> {
    let mut store = rustls::RootCertStore::empty();
    for c in pem_chain(pem)? {
        store.add(c).context("a trust anchor")?;
    }
    Ok(store)
}

/// Whether `chain` (leaf first) is valid for `name` now, from `roots`: `Err` says why not.
pub(crate) fn verify(
    chain: &[CertificateDer<'static>],
    name: &str,
    roots: &rustls::RootCertStore,
) -> Result<()> {
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots.clone()),
        provider(),
    )
    .build()
    .context("building the certificate verifier")?;
    let server = ServerName::try_from(name.to_owned()).context("a server name")?;
    let (leaf, rest) = chain
        .split_first()
        .ok_or_else(|| anyhow!("an empty chain"))?;
    verifier
        .verify_server_cert(leaf, rest, &server, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| anyhow!("{e}"))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The chain `addr` serves for `sni` (a TLS handshake; the chain is recorded, not judged).
pub(crate) fn served(
    addr: SocketAddr,
    sni: &str,
    timeout: Duration,
) -> Result<Vec<CertificateDer<'static>>> {
    let recorder = Arc::new(Recorder::default());
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let server = ServerName::try_from(sni.to_owned()).context("a server name")?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), server)?;
    let mut sock = std::net::TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    sock.set_read_timeout(Some(timeout))?;
    sock.set_write_timeout(Some(timeout))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)
            .with_context(|| format!("TLS handshake with {addr} for {sni}"))?;
    }
    let chain = recorder
        .chain
        .lock()
        .map_err(|_| anyhow!("poisoned"))?
        .clone();
    if chain.is_empty() {
        bail!("{addr} served no certificate for {sni}");
    }
    Ok(chain)
}

/// Accepts any server certificate and keeps it: the monitor judges it afterwards.
#[derive(Debug, Default)]
struct Recorder {
    chain: std::sync::Mutex<Vec<CertificateDer<'static>>>,
}

impl rustls::client::danger::ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if let Ok(mut c) = self.chain.lock() {
            *c = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|d| d.clone().into_owned())
                .collect();
        }
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A private CA and a server certificate it signed: what a sandbox's local ACME CA (pebble)
/// serves its own HTTPS with. PEM texts.
pub(crate) struct LocalCa {
    pub ca_pem: String,
    pub server_pem: String,
    pub server_key_pem: String,
}

/// Makes a CA (ECDSA P-256) and a server certificate for `names` (DNS names or IP addresses).
pub(crate) fn local_ca(names: &[&str]) -> Result<LocalCa> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().context("a CA key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "lempctl sandbox CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).context("signing the CA")?;
    let key = KeyPair::generate().context("a server key")?;
    let mut server =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
    server.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("localhost"),
    );
    let issuer = Issuer::new(ca, ca_key);
    let server_cert = server
        .signed_by(&key, &issuer)
        .context("signing the server certificate")?;
    Ok(LocalCa {
        ca_pem: ca_cert.pem(),
        server_pem: server_cert.pem(),
        server_key_pem: key.serialize_pem(),
    })
}

/// `GET path` over HTTPS from `addr` (SNI `host`), trusting only `roots`: the body.
pub(crate) fn https_get(
    addr: SocketAddr,
    host: &str,
    path: &str,
    roots: rustls::RootCertStore,
    timeout: Duration,
) -> Result<Vec<u8>> {
    use std::io::{Read, Write};
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server = ServerName::try_from(host.to_owned())?;
    let conn = rustls::ClientConnection::new(Arc::new(config), server)?;
    let sock = std::net::TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    sock.set_read_timeout(Some(timeout))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    write!(
        tls,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    // a server that closes without close_notify still sent the whole answer
    if let Err(e) = tls.read_to_end(&mut buf)
        && e.kind() != std::io::ErrorKind::UnexpectedEof
    {
        return Err(e).with_context(|| format!("reading https://{addr}{path}"));
    }
    let text = String::from_utf8_lossy(&buf);
    let (head, _) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("no HTTP answer from {addr}"))?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        bail!(
            "https://{addr}{path}: {}",
            head.lines().next().unwrap_or("")
        );
    }
    let start = head.len() + 4;
    Ok(buf[start..].to_vec())
}
