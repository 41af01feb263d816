//! The credentials vault (SPEC §3). Secrets are sealed with AES-256-GCM before they touch D1.
//!
//! Sealed format v2 (stored as standard base64, with padding):
//!
//! ```text
//! blob    = header ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)
//! header  = 0x02 ‖ L (1 byte, 1..=32) ‖ kid (L bytes, ASCII A-Z a-z 0-9 _ -)
//! binding = UTF-8 of org_id "|" project_id "|" kind "|" credential_id   (no component has '|')
//! AAD     = header ‖ binding      (the exact L + 2 header bytes as stored, then the binding)
//! ```
//!
//! The binding makes a blob copied to another row, kind, project or tenant fail to open; the
//! header in the AAD makes a blob whose version byte or key id was altered fail to open (without
//! it, a blob relabelled to another key id holding the same key material would still open). The
//! header is self-delimiting (its length byte), so header ‖ binding is unambiguous.
//!
//! Legacy format v1 is the same layout with version byte `0x01` and AAD = binding alone (no
//! header). `open` still accepts v1 for rows sealed before v2; `seal` and `rewrap` write only
//! v2, and `rewrap` upgrades a v1 blob even when its key id is already the current one. Any other
//! version byte fails with [`VaultError::UnknownVersion`]. Known-answer vectors for both versions
//! come from `tests/vectors/vault_sealed.py` (Python `cryptography`, independent of this code).
//!
//! The keyring comes from `CREDENTIALS_ENCRYPTION_KEY`: comma-separated `kid:base64(32 bytes)`
//! entries (a bare base64 key has kid `k0`); the first seals, all open.

use super::ports::Rng;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// The format `seal` and `rewrap` write.
const VERSION: u8 = 2;
/// The sealed format version `seal` and `rewrap` write (stored beside each blob, so the re-wrap
/// job can find blobs in an older format).
pub const SEALED_FORMAT: u8 = VERSION;
/// The legacy format: no header in the AAD. Opened, never written.
const VERSION_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("CREDENTIALS_ENCRYPTION_KEY is missing or malformed: {0}")]
    BadKeyring(&'static str),
    #[error("the sealed value is malformed")]
    Malformed,
    #[error(
        "the sealed value has format version {0}, which this build does not know (1 and 2 open)"
    )]
    UnknownVersion(u8),
    #[error("the sealed value was made with key id that is not in the keyring")]
    UnknownKey,
    #[error("the sealed value does not open (wrong key, wrong binding, or altered)")]
    Open,
    #[error("a binding component contains '|'")]
    BadBinding,
    #[error("the random number generator failed")]
    Random,
}

/// A secret in memory: zeroed on drop, redacted in `Debug`, never `Serialize`.
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(Zeroizing::new(s))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// What a sealed value is bound to.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub org_id: &'a str,
    pub project_id: &'a str,
    pub kind: &'a str,
    pub credential_id: &'a str,
}

impl Binding<'_> {
    fn aad(&self) -> Result<Vec<u8>, VaultError> {
        let parts = [self.org_id, self.project_id, self.kind, self.credential_id];
        if parts.iter().any(|p| p.contains('|')) {
            return Err(VaultError::BadBinding);
        }
        Ok(parts.join("|").into_bytes())
    }
}

struct MasterKey {
    kid: String,
    key: Zeroizing<[u8; 32]>,
}

pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        write!(f, "Keyring({kids:?})")
    }
}

fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 32
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Keyring {
    pub fn parse(spec: &str) -> Result<Self, VaultError> {
        let mut keys = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, b64) = match entry.split_once(':') {
                Some((kid, b64)) => (kid.trim(), b64.trim()),
                None => ("k0", entry),
            };
            if !valid_kid(kid) {
                return Err(VaultError::BadKeyring(
                    "a key id must be 1-32 characters of A-Z a-z 0-9 _ -",
                ));
            }
            if keys.iter().any(|k: &MasterKey| k.kid == kid) {
                return Err(VaultError::BadKeyring("a key id appears twice"));
            }
            let mut raw = B64
                .decode(b64)
                .map_err(|_| VaultError::BadKeyring("a key is not base64"))?;
            if raw.len() != 32 {
                raw.zeroize();
                return Err(VaultError::BadKeyring("a key is not 32 bytes"));
            }
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(&raw);
            raw.zeroize();
            keys.push(MasterKey {
                kid: kid.to_owned(),
                key,
            });
        }
        if keys.is_empty() {
            return Err(VaultError::BadKeyring("no key"));
        }
        Ok(Keyring { keys })
    }

    /// The key id new values are sealed with.
    pub fn current_kid(&self) -> &str {
        &self.keys[0].kid
    }

    pub fn seal(
        &self,
        binding: &Binding,
        plaintext: &str,
        rng: &mut impl Rng,
    ) -> Result<String, VaultError> {
        let mk = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).map_err(|_| VaultError::Random)?;
        let header = header_bytes(VERSION, &mk.kid);
        let aad = aad(VERSION, &header, binding)?;
        let cipher = Aes256Gcm::new_from_slice(mk.key.as_slice()).map_err(|_| VaultError::Open)?;
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Open)?;
        let mut out = Vec::with_capacity(header.len() + NONCE_LEN + ct.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(B64.encode(out))
    }

    pub fn open(&self, binding: &Binding, sealed: &str) -> Result<Secret, VaultError> {
        let parsed = Parsed::from(sealed)?;
        let mk = self
            .keys
            .iter()
            .find(|k| k.kid == parsed.kid)
            .ok_or(VaultError::UnknownKey)?;
        let aad = aad(parsed.version, &parsed.header, binding)?;
        let cipher = Aes256Gcm::new_from_slice(mk.key.as_slice()).map_err(|_| VaultError::Open)?;
        let mut pt = cipher
            .decrypt(
                Nonce::from_slice(&parsed.nonce),
                Payload {
                    msg: &parsed.ct,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Open)?;
        match String::from_utf8(std::mem::take(&mut pt)) {
            Ok(s) => Ok(Secret::new(s)),
            Err(e) => {
                e.into_bytes().zeroize();
                Err(VaultError::Malformed)
            }
        }
    }

    /// The key id a sealed value was made with (no key needed).
    pub fn kid_of(sealed: &str) -> Result<String, VaultError> {
        Parsed::from(sealed).map(|p| p.kid)
    }

    /// Re-seals under the current key id in the current format (v2). `None` only when the blob
    /// already is under the current key id AND in the current format version; a legacy v1 blob
    /// is re-sealed as v2 even when its key id is already the current one (the format upgrade),
    /// so a caller that picks rows by key id alone misses those.
    pub fn rewrap(
        &self,
        binding: &Binding,
        sealed: &str,
        rng: &mut impl Rng,
    ) -> Result<Option<String>, VaultError> {
        let parsed = Parsed::from(sealed)?;
        if parsed.version == VERSION && parsed.kid == self.current_kid() {
            return Ok(None);
        }
        let secret = self.open(binding, sealed)?;
        self.seal(binding, secret.expose(), rng).map(Some)
    }
}

/// `version ‖ kid length ‖ kid`: the bytes every sealed value starts with.
fn header_bytes(version: u8, kid: &str) -> Vec<u8> {
    let mut h = Vec::with_capacity(2 + kid.len());
    h.push(version);
    h.push(kid.len() as u8);
    h.extend_from_slice(kid.as_bytes());
    h
}

/// v2: the exact header bytes, then the binding. v1 (legacy): the binding alone.
fn aad(version: u8, header: &[u8], binding: &Binding) -> Result<Vec<u8>, VaultError> {
    let binding = binding.aad()?;
    Ok(match version {
        VERSION => [header, &binding].concat(),
        VERSION_V1 => binding,
        other => return Err(VaultError::UnknownVersion(other)),
    })
}

struct Parsed {
    version: u8,
    /// The header exactly as stored (`version ‖ L ‖ kid`).
    header: Vec<u8>,
    kid: String,
    nonce: [u8; NONCE_LEN],
    ct: Vec<u8>,
}

impl Parsed {
    fn from(sealed: &str) -> Result<Self, VaultError> {
        let raw = B64
            .decode(sealed.trim())
            .map_err(|_| VaultError::Malformed)?;
        let raw = Zeroizing::new(raw);
        let (&version, rest) = raw.split_first().ok_or(VaultError::Malformed)?;
        if version != VERSION && version != VERSION_V1 {
            return Err(VaultError::UnknownVersion(version));
        }
        let (&kid_len, rest) = rest.split_first().ok_or(VaultError::Malformed)?;
        let kid_len = kid_len as usize;
        if rest.len() < kid_len + NONCE_LEN + TAG_LEN {
            return Err(VaultError::Malformed);
        }
        let kid = std::str::from_utf8(&rest[..kid_len])
            .map_err(|_| VaultError::Malformed)?
            .to_owned();
        if !valid_kid(&kid) {
            return Err(VaultError::Malformed);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&rest[kid_len..kid_len + NONCE_LEN]);
        Ok(Parsed {
            version,
            header: raw[..2 + kid_len].to_vec(),
            kid,
            nonce,
            ct: rest[kid_len + NONCE_LEN..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ports::{FakeRng, OsRng};
    use proptest::prelude::*;

    const KEY_0_31: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    fn binding() -> Binding<'static> {
        Binding {
            org_id: "org_A",
            project_id: "prj_B",
            kind: "stripe_api_key",
            credential_id: "cred_C",
        }
    }

    #[test]
    fn aes_gcm_matches_the_gcm_spec_test_case_16() {
        let key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        let iv = hex("cafebabefacedbaddecaf888");
        let pt = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let ct = Aes256Gcm::new_from_slice(&key)
            .unwrap()
            .encrypt(
                Nonce::from_slice(&iv),
                Payload {
                    msg: &pt,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(
            crate::domain::apikey::hex(&ct),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f66276fc6ece0f4e1768cddf8853bb2d551b"
        );
    }

    // The blobs below were computed with Python's `cryptography` AESGCM (OpenSSL), independent
    // of this code, by `tests/vectors/vault_sealed.py`; run it to reproduce them.
    const KAT_V1: &str = "AQJrMQABAgMEBQYHCAkKCzVpiW+glrZE6Dn25sGFHXnhLMqTPIWoaIfXSyKm1Q4=";
    const KAT_V2: &str = "AgJrMQABAgMEBQYHCAkKCzVpiW+glrZE6Dn25sGFHYK8l9Mj60NbxMKqa5RdOs8=";
    const KAT_V2_LONG_KID: &str =
        "AiBraWRfb2ZfMzJfY2hhcnMtQUJDREVGR0hJSktMTU5PUGRlZmdoaWprbG1ub+XF/J/bKWmT1Ss8ifMkffA=";

    /// The legacy v1 sealer, for tests only: AAD = the binding alone, header not authenticated.
    fn seal_v1(
        key: &[u8],
        kid: &str,
        binding: &Binding,
        pt: &str,
        nonce: [u8; NONCE_LEN],
    ) -> String {
        let ct = Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: pt.as_bytes(),
                    aad: &binding.aad().unwrap(),
                },
            )
            .unwrap();
        let mut out = vec![VERSION_V1, kid.len() as u8];
        out.extend_from_slice(kid.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        B64.encode(out)
    }

    /// The same blob with its key id replaced (version, nonce, ciphertext and tag untouched).
    fn relabel(sealed: &str, kid: &str) -> String {
        let raw = B64.decode(sealed).unwrap();
        let old_len = raw[1] as usize;
        let mut out = vec![raw[0], kid.len() as u8];
        out.extend_from_slice(kid.as_bytes());
        out.extend_from_slice(&raw[2 + old_len..]);
        B64.encode(out)
    }

    fn version_of(sealed: &str) -> u8 {
        B64.decode(sealed).unwrap()[0]
    }

    #[test]
    fn the_v2_sealed_format_matches_an_independent_implementation() {
        // Key bytes 0..31, nonce bytes 0..11, kid "k1", binding(), plaintext "rk_test_example".
        let ring = Keyring::parse(&format!("k1:{KEY_0_31}")).unwrap();
        let sealed = ring
            .seal(&binding(), "rk_test_example", &mut FakeRng(0))
            .unwrap();
        assert_eq!(sealed, KAT_V2);
        assert_eq!(
            ring.open(&binding(), KAT_V2).unwrap().expose(),
            "rk_test_example"
        );
        // Key 32 × 0x07, a 32-byte kid, nonce bytes 100..111, another binding, empty plaintext.
        let kid = "kid_of_32_chars-ABCDEFGHIJKLMNOP";
        let ring = Keyring::parse(&format!("{kid}:{}", B64.encode([7u8; 32]))).unwrap();
        let other = Binding {
            org_id: "org_X",
            project_id: "prj_Y",
            kind: "database_url",
            credential_id: "cred_Z",
        };
        assert_eq!(
            ring.seal(&other, "", &mut FakeRng(100)).unwrap(),
            KAT_V2_LONG_KID
        );
        assert_eq!(ring.open(&other, KAT_V2_LONG_KID).unwrap().expose(), "");
    }

    #[test]
    fn a_v1_blob_sealed_before_the_header_was_authenticated_still_opens() {
        let ring = Keyring::parse(&format!("k1:{KEY_0_31}")).unwrap();
        assert_eq!(
            ring.open(&binding(), KAT_V1).unwrap().expose(),
            "rk_test_example"
        );
        assert_eq!(Keyring::kid_of(KAT_V1).unwrap(), "k1");
        // The test-only v1 sealer agrees with the independent implementation.
        let key: Vec<u8> = (0..32).collect();
        let nonce: [u8; NONCE_LEN] = std::array::from_fn(|i| i as u8);
        assert_eq!(
            seal_v1(&key, "k1", &binding(), "rk_test_example", nonce),
            KAT_V1
        );
        // A v1 blob still fails to open under another binding.
        let other = Binding {
            credential_id: "cred_D",
            ..binding()
        };
        assert_eq!(ring.open(&other, KAT_V1).err(), Some(VaultError::Open));
    }

    #[test]
    fn a_v2_blob_relabelled_to_another_kid_with_the_same_key_fails_to_open() {
        let ring =
            Keyring::parse(&format!("k1:{KEY_0_31}, k2:{KEY_0_31}, k10:{KEY_0_31}")).unwrap();
        let sealed = ring.seal(&binding(), "s3cret", &mut OsRng).unwrap();
        assert_eq!(ring.open(&binding(), &sealed).unwrap().expose(), "s3cret");
        for kid in ["k2", "k10"] {
            let relabelled = relabel(&sealed, kid);
            assert_eq!(Keyring::kid_of(&relabelled).unwrap(), kid);
            assert_eq!(
                ring.open(&binding(), &relabelled).err(),
                Some(VaultError::Open),
                "{kid}"
            );
        }
        // The same relabelling of a legacy v1 blob opens: the hole v2 closes.
        let key: Vec<u8> = (0..32).collect();
        let v1 = seal_v1(&key, "k1", &binding(), "s3cret", [9; NONCE_LEN]);
        assert_eq!(
            ring.open(&binding(), &relabel(&v1, "k2")).unwrap().expose(),
            "s3cret"
        );
    }

    #[test]
    fn flipping_the_version_byte_from_2_to_1_fails_to_open() {
        let ring = Keyring::parse(&format!("k1:{KEY_0_31}")).unwrap();
        let mut raw = B64.decode(KAT_V2).unwrap();
        assert_eq!(raw[0], 2);
        raw[0] = 1;
        assert_eq!(
            ring.open(&binding(), &B64.encode(&raw)).err(),
            Some(VaultError::Open)
        );
        // And the other way: a v1 blob claimed to be v2.
        let mut raw = B64.decode(KAT_V1).unwrap();
        raw[0] = 2;
        assert_eq!(
            ring.open(&binding(), &B64.encode(&raw)).err(),
            Some(VaultError::Open)
        );
    }

    #[test]
    fn unknown_versions_fail_to_open_with_a_clear_error() {
        let ring = Keyring::parse(&format!("k1:{KEY_0_31}")).unwrap();
        for version in [0u8, 3, 0x7f, 0xff] {
            let mut raw = B64.decode(KAT_V2).unwrap();
            raw[0] = version;
            let sealed = B64.encode(&raw);
            let expected = Some(VaultError::UnknownVersion(version));
            assert_eq!(ring.open(&binding(), &sealed).err(), expected);
            assert_eq!(Keyring::kid_of(&sealed).err(), expected);
            assert_eq!(ring.rewrap(&binding(), &sealed, &mut OsRng).err(), expected);
        }
        assert_eq!(
            VaultError::UnknownVersion(3).to_string(),
            "the sealed value has format version 3, which this build does not know (1 and 2 open)"
        );
    }

    #[test]
    fn rewrap_upgrades_a_v1_blob_under_the_current_kid_to_v2() {
        let ring = Keyring::parse(&format!("k1:{KEY_0_31}")).unwrap();
        assert_eq!(ring.current_kid(), "k1");
        let upgraded = ring
            .rewrap(&binding(), KAT_V1, &mut OsRng)
            .unwrap()
            .expect("a v1 blob under the current kid is re-sealed");
        assert_eq!(version_of(&upgraded), 2);
        assert_eq!(Keyring::kid_of(&upgraded).unwrap(), "k1");
        assert_eq!(
            ring.open(&binding(), &upgraded).unwrap().expose(),
            "rk_test_example"
        );
        assert!(ring
            .rewrap(&binding(), &upgraded, &mut OsRng)
            .unwrap()
            .is_none());
        assert!(ring
            .rewrap(&binding(), KAT_V2, &mut OsRng)
            .unwrap()
            .is_none());
        // A v1 blob under an old kid moves to the current kid and to v2 at once.
        let new_key = B64.encode([7u8; 32]);
        let rotated = Keyring::parse(&format!("k2:{new_key}, k1:{KEY_0_31}")).unwrap();
        let moved = rotated
            .rewrap(&binding(), KAT_V1, &mut OsRng)
            .unwrap()
            .unwrap();
        assert_eq!(version_of(&moved), 2);
        assert_eq!(Keyring::kid_of(&moved).unwrap(), "k2");
        assert_eq!(
            rotated.open(&binding(), &moved).unwrap().expose(),
            "rk_test_example"
        );
        // The binding still guards the upgrade: a v1 blob does not re-wrap under another row.
        let other = Binding {
            credential_id: "cred_D",
            ..binding()
        };
        assert_eq!(
            ring.rewrap(&other, KAT_V1, &mut OsRng).err(),
            Some(VaultError::Open)
        );
    }

    #[test]
    fn the_first_key_seals_and_every_key_opens() {
        let old = Keyring::parse(&format!("old:{KEY_0_31}")).unwrap();
        let sealed_old = old.seal(&binding(), "s3cret", &mut OsRng).unwrap();
        let new_key = B64.encode([7u8; 32]);
        let ring = Keyring::parse(&format!("new:{new_key}, old:{KEY_0_31}")).unwrap();
        assert_eq!(ring.current_kid(), "new");
        assert_eq!(
            ring.open(&binding(), &sealed_old).unwrap().expose(),
            "s3cret"
        );
        let rewrapped = ring
            .rewrap(&binding(), &sealed_old, &mut OsRng)
            .unwrap()
            .unwrap();
        assert_eq!(Keyring::kid_of(&rewrapped).unwrap(), "new");
        assert_eq!(
            ring.open(&binding(), &rewrapped).unwrap().expose(),
            "s3cret"
        );
        assert!(ring
            .rewrap(&binding(), &rewrapped, &mut OsRng)
            .unwrap()
            .is_none());
        let only_new = Keyring::parse(&format!("new:{new_key}")).unwrap();
        assert_eq!(
            only_new.open(&binding(), &sealed_old).err(),
            Some(VaultError::UnknownKey)
        );
        assert_eq!(
            only_new.open(&binding(), &rewrapped).unwrap().expose(),
            "s3cret"
        );
    }

    #[test]
    fn malformed_keyrings_are_refused_without_echoing_the_key() {
        for bad in [
            "",
            "k1:",
            "k1:notbase64!!",
            "k1:AAAA",
            "bad kid:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ] {
            let e = Keyring::parse(bad).unwrap_err();
            assert!(matches!(e, VaultError::BadKeyring(_)), "{bad}");
        }
        assert!(Keyring::parse(&format!("a:{KEY_0_31},a:{KEY_0_31}")).is_err());
        assert_eq!(Keyring::parse(KEY_0_31).unwrap().current_kid(), "k0");
        assert_eq!(
            format!("{:?}", Keyring::parse(KEY_0_31).unwrap()),
            "Keyring([\"k0\"])"
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        assert_eq!(
            format!("{:?}", Secret::new("sk_test_abc".into())),
            "Secret([redacted])"
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    proptest! {
        #[test]
        fn any_bit_flip_fails_to_open(
            pt in ".{0,64}",
            byte in prop_oneof![0usize..4, 0usize..400],
            bit in 0u8..8,
        ) {
            // Every kid one bit away from "k1" holds the same key, so a flip in the key id that
            // still names a key is a relabelling, caught only because the header is in the AAD.
            let ring = Keyring::parse(&format!(
                "k1:{KEY_0_31},k0:{KEY_0_31},k3:{KEY_0_31},k5:{KEY_0_31},k9:{KEY_0_31},kq:{KEY_0_31},j1:{KEY_0_31},i1:{KEY_0_31},o1:{KEY_0_31},K1:{KEY_0_31}"
            ))
            .unwrap();
            let sealed = ring.seal(&binding(), &pt, &mut OsRng).unwrap();
            let mut raw = B64.decode(&sealed).unwrap();
            prop_assert_eq!(raw[0], 2);
            let raw_len = raw.len();
            let i = byte % raw_len;
            raw[i] ^= 1 << bit;
            prop_assert!(ring.open(&binding(), &B64.encode(raw)).is_err());
        }

        #[test]
        fn any_bit_flip_of_a_v1_blob_fails_to_open(
            pt in ".{0,64}",
            byte in prop_oneof![0usize..4, 0usize..400],
            bit in 0u8..8,
            nonce in prop::array::uniform12(any::<u8>()),
        ) {
            let ring = Keyring::parse(&format!("k1:{KEY_0_31}")).unwrap();
            let key: Vec<u8> = (0..32).collect();
            let sealed = seal_v1(&key, "k1", &binding(), &pt, nonce);
            let opened = ring.open(&binding(), &sealed).unwrap();
            prop_assert_eq!(opened.expose(), pt.as_str());
            let mut raw = B64.decode(&sealed).unwrap();
            let raw_len = raw.len();
            let i = byte % raw_len;
            raw[i] ^= 1 << bit;
            prop_assert!(ring.open(&binding(), &B64.encode(raw)).is_err());
        }

        #[test]
        fn a_v2_blob_relabelled_to_any_other_kid_fails_to_open(
            pt in ".{0,64}",
            kid in "[A-Za-z0-9_-]{1,32}",
        ) {
            prop_assume!(kid != "k1");
            let ring = Keyring::parse(&format!("k1:{KEY_0_31},{kid}:{KEY_0_31}")).unwrap();
            let sealed = ring.seal(&binding(), &pt, &mut OsRng).unwrap();
            prop_assert_eq!(ring.open(&binding(), &relabel(&sealed, &kid)).err(), Some(VaultError::Open));
        }

        #[test]
        fn any_change_of_binding_fails_to_open(pt in ".{0,64}", which in 0usize..4, extra in "[a-z0-9_]{1,8}") {
            let ring = Keyring::parse(KEY_0_31).unwrap();
            let sealed = ring.seal(&binding(), &pt, &mut OsRng).unwrap();
            let (mut o, mut p, mut k, mut c) = ("org_A".to_string(), "prj_B".to_string(), "stripe_api_key".to_string(), "cred_C".to_string());
            [&mut o, &mut p, &mut k, &mut c][which].push_str(&extra);
            let other = Binding { org_id: &o, project_id: &p, kind: &k, credential_id: &c };
            prop_assert_eq!(ring.open(&other, &sealed).err(), Some(VaultError::Open));
        }

        #[test]
        fn a_wrong_key_with_the_same_id_fails_to_open(pt in ".{0,64}", key in prop::array::uniform32(any::<u8>())) {
            let ring = Keyring::parse(KEY_0_31).unwrap();
            let sealed = ring.seal(&binding(), &pt, &mut OsRng).unwrap();
            prop_assume!(B64.encode(key) != KEY_0_31);
            let other = Keyring::parse(&B64.encode(key)).unwrap();
            prop_assert_eq!(other.open(&binding(), &sealed).err(), Some(VaultError::Open));
        }

        #[test]
        fn sealing_round_trips(pt in ".{0,256}") {
            let ring = Keyring::parse(KEY_0_31).unwrap();
            let sealed = ring.seal(&binding(), &pt, &mut OsRng).unwrap();
            let opened = ring.open(&binding(), &sealed).unwrap();
            prop_assert_eq!(opened.expose(), pt.as_str());
        }
    }
}
