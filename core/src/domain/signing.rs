//! Org signing keys and signed checkpoints (SPEC §9, §10). Each org has one Ed25519 key: the
//! private half (a 32-byte seed, carried as PKCS #8) is sealed in the vault, the public half is
//! served as a PEM `SubjectPublicKeyInfo`, the form `openssl pkeyutl -verify -pubin` reads. The
//! signing itself is the platform's (WebCrypto on Workers) behind the `Signer` port; this module
//! holds the key encodings and what is signed.
//!
//! A checkpoint signs `{chain, size, head_hash, time}`: the bytes signed are its canonical JSON
//! (sorted keys, no whitespace), so anyone can rebuild them from the stored object.

use super::apikey::hex;
use super::canonical::to_canonical;
use super::store::StoreError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

/// DER prefix of an Ed25519 `SubjectPublicKeyInfo` (RFC 8410); the 32 key bytes follow.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of an Ed25519 PKCS #8 `PrivateKeyInfo` (RFC 8410); the 32-byte seed follows.
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("not a PEM public key")]
    NotPem,
    #[error("not an Ed25519 public key")]
    NotEd25519,
    #[error("not an Ed25519 PKCS #8 private key")]
    NotPkcs8,
}

/// The DER `SubjectPublicKeyInfo` of a raw Ed25519 public key.
pub fn spki_der(public: &[u8; 32]) -> Vec<u8> {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(public);
    der
}

/// The PEM (`-----BEGIN PUBLIC KEY-----`, 64-column base64) of a raw Ed25519 public key.
pub fn public_pem(public: &[u8; 32]) -> String {
    let b64 = B64.encode(spki_der(public));
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

/// The raw public key in a PEM `SubjectPublicKeyInfo`, which must be Ed25519.
pub fn public_from_pem(pem: &str) -> Result<[u8; 32], KeyFormatError> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PUBLIC KEY-----")
        .and_then(|r| r.strip_suffix("-----END PUBLIC KEY-----"))
        .ok_or(KeyFormatError::NotPem)?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = B64.decode(b64).map_err(|_| KeyFormatError::NotPem)?;
    der.strip_prefix(&SPKI_PREFIX[..])
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or(KeyFormatError::NotEd25519)
}

/// The PKCS #8 DER of an Ed25519 seed (what WebCrypto imports).
pub fn pkcs8_from_seed(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = PKCS8_PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

/// The seed in an Ed25519 PKCS #8 DER without attributes or public key (what WebCrypto exports).
pub fn seed_from_pkcs8(der: &[u8]) -> Result<[u8; 32], KeyFormatError> {
    der.strip_prefix(&PKCS8_PREFIX[..])
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or(KeyFormatError::NotPkcs8)
}

/// The key's fingerprint: SHA-256 (hex) of its DER `SubjectPublicKeyInfo`, which is what
/// `openssl pkey -pubin -in key.pem -outform DER | sha256sum` prints.
pub fn fingerprint(public: &[u8; 32]) -> String {
    hex(&Sha256::digest(spki_der(public)))
}

/// Which key signed: its id and fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRef {
    pub id: String,
    pub sha256: String,
}

/// Signs with an org's key (WebCrypto at the edge; a fixed key in tests).
#[allow(async_fn_in_trait)]
pub trait Signer {
    /// The 64-byte Ed25519 signature of `message`.
    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, StoreError>;
    /// Which key signs.
    fn key(&self) -> KeyRef;
}

/// A chain's size and head at a time, as the cron signs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub chain: String,
    pub size: u64,
    pub head_hash: String,
    pub time: String,
    /// The environment (`live` or `test`) of the project whose chain it is; absent for an org
    /// chain, and in checkpoints signed before it was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl Checkpoint {
    /// The bytes the signature covers: canonical JSON of its fields (`environment` only when
    /// there is one, so checkpoints signed before it was named still verify).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut v = json!({
            "chain": self.chain,
            "size": self.size,
            "head_hash": self.head_hash,
            "time": self.time,
        });
        if let Some(env) = &self.environment {
            v["environment"] = json!(env);
        }
        to_canonical(&v).into_bytes()
    }
}

/// A checkpoint with its signature (standard base64) and the key that made it: the object
/// stored in R2 and quoted by export manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub signature: String,
    pub key: KeyRef,
}

impl SignedCheckpoint {
    pub async fn sign(checkpoint: Checkpoint, signer: &impl Signer) -> Result<Self, StoreError> {
        let sig = signer.sign(&checkpoint.signed_bytes()).await?;
        Ok(SignedCheckpoint {
            checkpoint,
            signature: B64.encode(sig),
            key: signer.key(),
        })
    }

    /// Whether the signature verifies under `public`, by `verify(public, message, signature)`.
    pub fn verifies(
        &self,
        public: &[u8; 32],
        verify: impl Fn(&[u8; 32], &[u8], &[u8]) -> bool,
    ) -> bool {
        match B64.decode(&self.signature) {
            Ok(sig) if sig.len() == 64 => verify(public, &self.checkpoint.signed_bytes(), &sig),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_key_round_trips_through_pem_known_answer() {
        // RFC 8032 test 1 public key; its PEM as `openssl pkey -pubin` writes it.
        let public: [u8; 32] = [
            0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64,
            0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68,
            0xf7, 0x07, 0x51, 0x1a,
        ];
        let pem = public_pem(&public);
        assert_eq!(
            pem,
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n"
        );
        assert_eq!(public_from_pem(&pem), Ok(public));
        assert_eq!(public_from_pem("junk"), Err(KeyFormatError::NotPem));
        // An RSA-shaped DER is refused.
        let other =
            "-----BEGIN PUBLIC KEY-----\nMA0GCSqGSIb3DQEBAQUAAwIAAA==\n-----END PUBLIC KEY-----";
        assert_eq!(public_from_pem(other), Err(KeyFormatError::NotEd25519));
    }

    #[test]
    fn a_seed_round_trips_through_pkcs8_and_nothing_else_parses() {
        let seed = [7u8; 32];
        let der = pkcs8_from_seed(&seed);
        assert_eq!(der.len(), 48);
        assert_eq!(seed_from_pkcs8(&der), Ok(seed));
        assert!(seed_from_pkcs8(&der[..47]).is_err());
        let mut longer = der.clone();
        longer.push(0);
        assert!(seed_from_pkcs8(&longer).is_err());
    }

    #[test]
    fn a_checkpoint_signs_its_canonical_form() {
        let c = Checkpoint {
            chain: "project:prj_x".into(),
            size: 12,
            head_hash: "ab".into(),
            time: "2026-12-02T00:00:00.000Z".into(),
            environment: Some("live".into()),
        };
        assert_eq!(
            String::from_utf8(c.signed_bytes()).unwrap(),
            r#"{"chain":"project:prj_x","environment":"live","head_hash":"ab","size":12,"time":"2026-12-02T00:00:00.000Z"}"#
        );
        // A checkpoint signed before the environment was named signs (and verifies) as it did.
        let old = Checkpoint {
            environment: None,
            ..c
        };
        assert_eq!(
            String::from_utf8(old.signed_bytes()).unwrap(),
            r#"{"chain":"project:prj_x","head_hash":"ab","size":12,"time":"2026-12-02T00:00:00.000Z"}"#
        );
    }
}
