//! The credentials vault (SPEC §3). Secrets are sealed with AES-256-GCM before they touch D1.
//!
//! Sealed format v1 (stored base64): `[0x01][kid length L][kid: L bytes][nonce: 12][ciphertext‖tag]`.
//! The AAD is `org_id|project_id|kind|credential_id`, so a blob copied to another row, kind or
//! tenant fails to open. The keyring comes from `CREDENTIALS_ENCRYPTION_KEY`: comma-separated
//! `kid:base64(32 bytes)` entries (a bare base64 key has kid `k0`); the first seals, all open.

use super::ports::Rng;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("CREDENTIALS_ENCRYPTION_KEY is missing or malformed: {0}")]
    BadKeyring(&'static str),
    #[error("the sealed value is malformed")]
    Malformed,
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
        let aad = binding.aad()?;
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
        let mut out = Vec::with_capacity(2 + mk.kid.len() + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.push(mk.kid.len() as u8);
        out.extend_from_slice(mk.kid.as_bytes());
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
        let aad = binding.aad()?;
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

    /// Re-seals under the current key; `None` when it already is.
    pub fn rewrap(
        &self,
        binding: &Binding,
        sealed: &str,
        rng: &mut impl Rng,
    ) -> Result<Option<String>, VaultError> {
        if Self::kid_of(sealed)? == self.current_kid() {
            return Ok(None);
        }
        let secret = self.open(binding, sealed)?;
        self.seal(binding, secret.expose(), rng).map(Some)
    }
}

struct Parsed {
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
        if version != VERSION {
            return Err(VaultError::Malformed);
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

    #[test]
    fn the_sealed_format_matches_an_independent_implementation() {
        // Expected value computed with Python's `cryptography` AESGCM: key bytes 0..31, nonce
        // bytes 0..11, kid "k1", the AAD below, plaintext "rk_test_example".
        let ring = Keyring::parse(&format!("k1:{KEY_0_31}")).unwrap();
        let sealed = ring
            .seal(&binding(), "rk_test_example", &mut FakeRng(0))
            .unwrap();
        assert_eq!(
            sealed,
            "AQJrMQABAgMEBQYHCAkKCzVpiW+glrZE6Dn25sGFHXnhLMqTPIWoaIfXSyKm1Q4="
        );
        assert_eq!(
            ring.open(&binding(), &sealed).unwrap().expose(),
            "rk_test_example"
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
        fn any_bit_flip_fails_to_open(pt in ".{0,64}", byte in 0usize..200, bit in 0u8..8) {
            let ring = Keyring::parse(KEY_0_31).unwrap();
            let sealed = ring.seal(&binding(), &pt, &mut OsRng).unwrap();
            let mut raw = B64.decode(&sealed).unwrap();
            let raw_len = raw.len();
            let i = byte % raw_len;
            raw[i] ^= 1 << bit;
            prop_assert!(ring.open(&binding(), &B64.encode(raw)).is_err());
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
