//! restic key files (`keys/<id>` in a repository): the repository's master key encrypted with a key
//! derived from the password by scrypt, in the format of restic's design document (JSON with the
//! scrypt parameters, a salt and `data` = IV ‖ AES-256-CTR ciphertext ‖ Poly1305-AES MAC).
//!
//! Why lempctl writes one: `restic init` calibrates scrypt to ~0.5 s of CPU, paid again by every
//! restic process that opens the repository (three per backup run). That cost protects guessable
//! passwords; a password of 40 letters and digits from the CSPRNG (≥ 238 bits) cannot be guessed
//! whatever the KDF costs, so its key is re-sealed with cheap parameters. Stock restic reads the
//! parameters from the file, so the repository stays a plain restic repository.
//! Invariant: a key is only ever written after its MAC verified and a re-open with it succeeded
//! (see `engine::repo_key`); decryption never returns unauthenticated plaintext.

use aes::cipher::{BlockCipherEncrypt, KeyInit, KeyIvInit, StreamCipher};
use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// scrypt parameters of the keys lempctl writes: 4 MiB and a few milliseconds.
pub(crate) const FAST: Kdf = Kdf {
    n: 1 << 12,
    r: 8,
    p: 1,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kdf {
    pub n: u32,
    pub r: u32,
    pub p: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyFile {
    created: String,
    username: String,
    hostname: String,
    kdf: String,
    #[serde(rename = "N")]
    n: u32,
    r: u32,
    p: u32,
    salt: String,
    data: String,
}

/// A key file as stored: its id (SHA-256 of the bytes, the file name) and bytes.
pub(crate) struct Sealed {
    pub id: String,
    pub bytes: Vec<u8>,
}

impl KeyFile {
    fn parse(keyfile: &[u8]) -> Result<Self> {
        serde_json::from_slice(keyfile).context("reading a restic key file")
    }

    fn kdf(&self) -> Kdf {
        Kdf {
            n: self.n,
            r: self.r,
            p: self.p,
        }
    }
}

/// The scrypt parameters a key file declares.
pub(crate) fn kdf_of(keyfile: &[u8]) -> Result<Kdf> {
    Ok(KeyFile::parse(keyfile)?.kdf())
}

/// Password-derived keys: AES-256 key, then the Poly1305-AES key `k` and `r` (16 bytes each).
struct Derived {
    enc: [u8; 32],
    mac_k: [u8; 16],
    mac_r: [u8; 16],
}

fn derive(password: &[u8], salt: &[u8], kdf: Kdf) -> Result<Derived> {
    if !kdf.n.is_power_of_two() || kdf.n < 2 {
        bail!("scrypt N={} is not a power of two", kdf.n);
    }
    let params = scrypt::Params::new(kdf.n.trailing_zeros() as u8, kdf.r, kdf.p)
        .map_err(|e| anyhow::anyhow!("scrypt parameters: {e}"))?;
    let mut out = [0u8; 64];
    scrypt::scrypt(password, salt, &params, &mut out)
        .map_err(|e| anyhow::anyhow!("scrypt: {e}"))?;
    let mut d = Derived {
        enc: [0; 32],
        mac_k: [0; 16],
        mac_r: [0; 16],
    };
    d.enc.copy_from_slice(&out[..32]);
    d.mac_k.copy_from_slice(&out[32..48]);
    d.mac_r.copy_from_slice(&out[48..]);
    Ok(d)
}

/// Poly1305-AES: the one-time key is `r ‖ AES_k(nonce)`; the tag covers the ciphertext only.
fn mac(d: &Derived, nonce: &[u8; 16], ciphertext: &[u8]) -> [u8; 16] {
    let mut s = aes::cipher::Array::from(*nonce);
    aes::Aes128::new(&d.mac_k.into()).encrypt_block(&mut s);
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(&d.mac_r);
    key[16..].copy_from_slice(&s);
    poly1305::Poly1305::new(&key.into())
        .compute_unpadded(ciphertext)
        .into()
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut buf)
        .map_err(|e| anyhow::anyhow!("random: {e}"))?;
    Ok(buf)
}

/// restic's authenticated encryption: IV ‖ AES-256-CTR(plain) ‖ Poly1305-AES(ciphertext).
fn encrypt(d: &Derived, plain: &[u8]) -> Result<Vec<u8>> {
    let iv: [u8; 16] = random()?;
    let mut ct = plain.to_vec();
    Aes256Ctr::new(&d.enc.into(), &iv.into()).apply_keystream(&mut ct);
    let tag = mac(d, &iv, &ct);
    let mut data = Vec::with_capacity(ct.len() + 32);
    data.extend_from_slice(&iv);
    data.extend_from_slice(&ct);
    data.extend_from_slice(&tag);
    Ok(data)
}

/// The plaintext of `encrypt`'s output; a wrong key and damaged data both fail the MAC.
fn decrypt(d: &Derived, data: &[u8]) -> Result<Vec<u8>> {
    if data.len() < 32 {
        bail!("encrypted data too short");
    }
    let (iv, rest) = data.split_at(16);
    let (ct, tag) = rest.split_at(rest.len() - 16);
    let iv: [u8; 16] = iv.try_into().expect("16 bytes");
    let want = mac(d, &iv, ct);
    // constant time is moot here (no oracle: a local file and a local key), but cheap
    if want.iter().zip(tag).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0 {
        bail!("MAC mismatch");
    }
    let mut plain = ct.to_vec();
    Aes256Ctr::new(&d.enc.into(), &iv.into()).apply_keystream(&mut plain);
    Ok(plain)
}

/// A repository's master key: what encrypts every file but the key files (lock files, for one).
pub(crate) struct MasterKey {
    keys: Derived,
    json: Vec<u8>,
}

#[derive(Deserialize)]
struct MasterJson {
    mac: MacJson,
    encrypt: String,
}

#[derive(Deserialize)]
struct MacJson {
    k: String,
    r: String,
}

impl MasterKey {
    /// From restic's JSON form (`{"mac":{"k","r"},"encrypt"}`, base64), as `open` returns it.
    pub(crate) fn from_json(json: &[u8]) -> Result<Self> {
        let m: MasterJson = serde_json::from_slice(json).context("reading a master key")?;
        let field = |name: &str, b64: &str, out: &mut [u8]| -> Result<()> {
            let v = B64
                .decode(b64)
                .with_context(|| format!("master key `{name}`"))?;
            if v.len() != out.len() {
                bail!(
                    "master key `{name}` has {} bytes, expected {}",
                    v.len(),
                    out.len()
                );
            }
            out.copy_from_slice(&v);
            Ok(())
        };
        let mut keys = Derived {
            enc: [0; 32],
            mac_k: [0; 16],
            mac_r: [0; 16],
        };
        field("encrypt", &m.encrypt, &mut keys.enc)?;
        field("mac.k", &m.mac.k, &mut keys.mac_k)?;
        field("mac.r", &m.mac.r, &mut keys.mac_r)?;
        Ok(Self {
            keys,
            json: json.to_vec(),
        })
    }

    /// restic's JSON form.
    pub(crate) fn json(&self) -> &[u8] {
        &self.json
    }

    pub(crate) fn encrypt(&self, plain: &[u8]) -> Result<Vec<u8>> {
        encrypt(&self.keys, plain)
    }

    pub(crate) fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>> {
        decrypt(&self.keys, data).context("decrypting with the repository's master key")
    }

    /// The JSON of a repository file that is not a pack (lock, snapshot): decrypted, and
    /// decompressed when restic compressed it (0x02 then zstd; plain JSON starts with `{` or `[`).
    pub(crate) fn decrypt_unpacked(&self, data: &[u8]) -> Result<Vec<u8>> {
        let plain = self.decrypt(data)?;
        Ok(match plain.first() {
            Some(2) => zstd::decode_all(&plain[1..]).context("decompressing a repository file")?,
            _ => plain,
        })
    }
}

/// The master key (restic's JSON, as bytes) of a key file, with `password`. A wrong password and a
/// damaged file both fail the MAC.
pub(crate) fn open(keyfile: &[u8], password: &[u8]) -> Result<Vec<u8>> {
    let k = KeyFile::parse(keyfile)?;
    if k.kdf != "scrypt" {
        bail!("restic key file with KDF `{}`, expected scrypt", k.kdf);
    }
    let salt = B64.decode(&k.salt).context("key file salt")?;
    let data = B64.decode(&k.data).context("key file data")?;
    let d = derive(password, &salt, k.kdf())?;
    decrypt(&d, &data)
        .map_err(|_| anyhow::anyhow!("the password does not open this restic key (MAC mismatch)"))
}

/// Seals `master` (restic's master key JSON) for `password` with `kdf`, fresh salt and IV.
pub(crate) fn seal(
    master: &[u8],
    password: &[u8],
    kdf: Kdf,
    username: &str,
    hostname: &str,
) -> Result<Sealed> {
    let salt: [u8; 64] = random()?;
    let d = derive(password, &salt, kdf)?;
    let data = encrypt(&d, master)?;
    let file = KeyFile {
        created: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        username: username.to_owned(),
        hostname: hostname.to_owned(),
        kdf: "scrypt".to_owned(),
        n: kdf.n,
        r: kdf.r,
        p: kdf.p,
        salt: B64.encode(salt),
        data: B64.encode(&data),
    };
    let bytes = serde_json::to_vec(&file).context("key file")?;
    Ok(Sealed {
        id: hex::encode(Sha256::digest(&bytes)),
        bytes,
    })
}

/// Whether a password has the form lempctl generates (letters and digits, 40 or more), the only
/// passwords whose keys get the fast parameters.
pub(crate) fn generated_form(password: &str) -> bool {
    password.len() >= 40 && password.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOW: Kdf = Kdf {
        n: 1 << 4,
        r: 1,
        p: 1,
    };

    #[test]
    fn seal_then_open_round_trips_and_detects_damage() {
        let master = br#"{"mac":{"k":"AAAA","r":"BBBB"},"encrypt":"CCCC"}"#;
        let s = seal(master, b"pw", LOW, "root", "host").unwrap();
        assert_eq!(s.id, hex::encode(Sha256::digest(&s.bytes)));
        assert_eq!(open(&s.bytes, b"pw").unwrap(), master);
        assert_eq!(kdf_of(&s.bytes).unwrap(), LOW);
        assert!(open(&s.bytes, b"other").is_err());
        let mut k: serde_json::Value = serde_json::from_slice(&s.bytes).unwrap();
        let mut data = B64.decode(k["data"].as_str().unwrap()).unwrap();
        data[20] ^= 1;
        k["data"] = B64.encode(&data).into();
        let err = open(&serde_json::to_vec(&k).unwrap(), b"pw").unwrap_err();
        assert!(err.to_string().contains("MAC"), "{err}");
    }

    /// Written by `restic init` (restic 0.14, password `pw`): restic's own parameters and layout.
    const RESTIC_KEY: &str = r#"{"created":"2026-11-22T23:44:06.778500306Z","username":"root","hostname":"vm","kdf":"scrypt","N":32768,"r":8,"p":6,"salt":"S+Y82I3yTPY7XSbeE+LmKTiBSGgfzGQSjZDzp0pspB9NJoIPT9BFW5RQ+y30n14XP7XCftunDKuO/SQwXXltFw==","data":"a4ja+yifsna6xlxWwZ7dKgh95hogxOcsaYB4XhahHj78cnD4JRrGbqp2nZQrPc4/i2GwePekElIWywUKcR5k3DrCMlUMfOa55ZxgTKwm3qgALtc1AhkqDELu8W7UD49bFiSAg7ahAQC6xSzU7k0WDeZnCubOyrbfoNDH0afS35aL+c4etDNNa/rcZ6+ekUF15m9JkB04FzYvO9C+HU2/Og=="}"#;

    #[test]
    fn opens_a_key_written_by_restic() {
        let master = open(RESTIC_KEY.as_bytes(), b"pw").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&master).unwrap();
        assert_eq!(
            B64.decode(v["encrypt"].as_str().unwrap()).unwrap().len(),
            32
        );
        assert_eq!(
            B64.decode(v["mac"]["k"].as_str().unwrap()).unwrap().len(),
            16
        );
        assert!(open(RESTIC_KEY.as_bytes(), b"wrong").is_err());
        // re-sealed with the fast parameters, the same master key comes back
        let s = seal(&master, b"pw", FAST, "root", "host").unwrap();
        assert_eq!(open(&s.bytes, b"pw").unwrap(), master);
    }

    #[test]
    fn generated_passwords_only() {
        assert!(generated_form(&"aZ9".repeat(14)));
        assert!(!generated_form("correct horse battery staple"));
        assert!(!generated_form(&"a".repeat(39)));
        assert!(!generated_form(&format!("{}-", "a".repeat(40))));
    }
}
