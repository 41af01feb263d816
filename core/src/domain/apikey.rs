//! API keys (SPEC §2): `pr_live_` or `pr_test_`, then 32 CSPRNG bytes as 43 base62 digits, then
//! a 6-digit base62 CRC32 of everything before it. The checksum lets a typo or a random string be
//! refused without touching the database, and lets scanners recognise a leaked key offline.
//! Only the SHA-256 of the whole key is ever stored.

use super::base62;
use super::ports::{RandomError, Rng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

const SECRET_BYTES: usize = 32;
const SECRET_DIGITS: usize = 43;
const CHECKSUM_DIGITS: usize = 6;
const PREFIX_LEN: usize = 8; // "pr_live_" / "pr_test_"
pub const KEY_LEN: usize = PREFIX_LEN + SECRET_DIGITS + CHECKSUM_DIGITS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Live,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(Environment::Live),
            "test" => Some(Environment::Test),
            _ => None,
        }
    }

    fn key_prefix(self) -> &'static str {
        match self {
            Environment::Live => "pr_live_",
            Environment::Test => "pr_test_",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    Read,
    Repair,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Read => "read",
            Capability::Repair => "repair",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Capability::Read),
            "repair" => Some(Capability::Repair),
            _ => None,
        }
    }
}

/// A plaintext key. Deliberately not `Serialize`, and `Debug` redacts it: the only way to get the
/// text out is `expose`, used once for the create response.
pub struct PlainKey(String);

impl fmt::Debug for PlainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainKey({}…{})", &self.0[..PREFIX_LEN], self.last4())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyFormatError {
    #[error("the key does not have the pr_live_/pr_test_ shape")]
    Shape,
    #[error("the key checksum does not match")]
    Checksum,
}

/// The SHA-256 of a full key, lowercase hex: the only form a key takes in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PlainKey {
    pub fn generate(env: Environment, rng: &mut impl Rng) -> Result<Self, RandomError> {
        let mut secret = [0u8; SECRET_BYTES];
        rng.fill(&mut secret)?;
        let digits = base62::encode_fixed(&secret, SECRET_DIGITS).ok_or(RandomError)?;
        let body = format!("{}{}", env.key_prefix(), digits);
        let check = checksum(&body);
        Ok(PlainKey(format!("{body}{check}")))
    }

    /// Checks shape and checksum. Never touches storage.
    pub fn parse(s: &str) -> Result<Self, KeyFormatError> {
        if s.len() != KEY_LEN || !s.is_ascii() {
            return Err(KeyFormatError::Shape);
        }
        let (prefix, rest) = s.split_at(PREFIX_LEN);
        if prefix != "pr_live_" && prefix != "pr_test_" {
            return Err(KeyFormatError::Shape);
        }
        if !base62::is_base62(rest) {
            return Err(KeyFormatError::Shape);
        }
        let (body, check) = s.split_at(PREFIX_LEN + SECRET_DIGITS);
        if checksum(body) != check {
            return Err(KeyFormatError::Checksum);
        }
        Ok(PlainKey(s.to_owned()))
    }

    pub fn environment(&self) -> Environment {
        if self.0.starts_with("pr_live_") {
            Environment::Live
        } else {
            Environment::Test
        }
    }

    /// `pr_live_` or `pr_test_`: safe to show.
    pub fn prefix(&self) -> &str {
        &self.0[..PREFIX_LEN]
    }

    /// The last four characters: safe to show.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash(hex(&Sha256::digest(self.0.as_bytes())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn checksum(body: &str) -> String {
    let crc = crc32fast::hash(body.as_bytes());
    // A u32 always fits in six base62 digits (62^6 > 2^32).
    base62::encode_u32(crc, CHECKSUM_DIGITS).unwrap_or_default()
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ports::{FakeRng, OsRng};
    use proptest::prelude::*;

    #[test]
    fn a_generated_key_has_the_documented_shape() {
        let k = PlainKey::generate(Environment::Live, &mut OsRng).unwrap();
        assert_eq!(k.expose().len(), 57);
        assert!(k.expose().starts_with("pr_live_"));
        assert_eq!(PlainKey::parse(k.expose()).map(|p| p.hash()), Ok(k.hash()));
        let t = PlainKey::generate(Environment::Test, &mut OsRng).unwrap();
        assert_eq!(t.environment(), Environment::Test);
    }

    #[test]
    fn the_checksum_is_crc32_of_the_prefix_and_secret_in_base62() {
        // Known answer: secret bytes 0,1,2,…,31 from the fake RNG; body computed independently
        // with Python big-integer base62.
        let k = PlainKey::generate(Environment::Test, &mut FakeRng(0)).unwrap();
        let body = &k.expose()[..51];
        let crc = crc32fast::hash(body.as_bytes());
        assert_eq!(&k.expose()[51..], base62::encode_u32(crc, 6).unwrap());
        assert_eq!(body, "pr_test_003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf");
    }

    #[test]
    fn a_one_character_typo_is_caught_by_the_checksum() {
        let k = PlainKey::generate(Environment::Live, &mut OsRng).unwrap();
        let mut s = k.expose().to_owned().into_bytes();
        s[20] = if s[20] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(s).unwrap();
        assert_eq!(PlainKey::parse(&typo).err(), Some(KeyFormatError::Checksum));
    }

    #[test]
    fn keys_of_the_wrong_shape_are_refused() {
        for bad in [
            "",
            "pr_live_",
            "sk_live_abc",
            &"x".repeat(57),
            &format!("pr_prod_{}", "a".repeat(49)),
        ] {
            assert_eq!(
                PlainKey::parse(bad).err(),
                Some(KeyFormatError::Shape),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let k = PlainKey::generate(Environment::Live, &mut OsRng).unwrap();
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&k.expose()[8..51]));
    }

    #[test]
    fn the_stored_hash_is_sha256_hex_of_the_whole_key() {
        let k = PlainKey::generate(Environment::Live, &mut FakeRng(3)).unwrap();
        assert_eq!(
            k.hash().as_str(),
            hex(&Sha256::digest(k.expose().as_bytes()))
        );
        assert_eq!(k.hash().as_str().len(), 64);
    }

    proptest! {
        #[test]
        fn random_strings_of_key_length_almost_never_pass(body in "[0-9A-Za-z]{49}") {
            let candidate = format!("pr_live_{body}");
            // Either refused, or its checksum genuinely matches.
            if let Ok(k) = PlainKey::parse(&candidate) {
                prop_assert_eq!(checksum(&k.expose()[..51]), &k.expose()[51..]);
            }
        }
    }
}
