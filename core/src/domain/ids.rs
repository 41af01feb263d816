//! Identifier newtypes. Each id is a type prefix plus 22 base62 digits (128 random bits), built
//! only by `generate` (fresh) or `parse` (from outside), so an id of one kind can never be passed
//! where another is expected and a malformed id never reaches a query.

use super::base62;
use super::ports::{RandomError, Rng};
use serde::{Deserialize, Serialize};
use std::fmt;

const RANDOM_BYTES: usize = 16;
const DIGITS: usize = 22;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed {kind} id")]
pub struct IdError {
    pub kind: &'static str,
}

macro_rules! id_type {
    ($name:ident, $prefix:literal, $kind:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate(rng: &mut impl Rng) -> Result<Self, RandomError> {
                Ok($name(random_id($prefix, rng)?))
            }

            pub fn parse(s: &str) -> Result<Self, IdError> {
                if has_shape(s, $prefix) {
                    Ok($name(s.to_owned()))
                } else {
                    Err(IdError { kind: $kind })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(OrgId, "org_", "org");
id_type!(ProjectId, "prj_", "project");
id_type!(MemberId, "mem_", "member");
id_type!(KeyId, "key_", "key");
id_type!(RequestId, "req_", "request");
id_type!(CredentialId, "cred_", "credential");
id_type!(IncidentId, "inc_", "incident");
id_type!(SnapshotId, "snap_", "snapshot");
id_type!(RunId, "run_", "run");
id_type!(OutboxId, "obx_", "outbox row");
id_type!(RepairId, "rep_", "repair");
id_type!(SigningKeyId, "sk_", "signing key");
id_type!(ExportId, "exp_", "export");
id_type!(SessionId, "ses_", "session");
id_type!(HookEndpointId, "whe_", "webhook endpoint");
id_type!(HookEventId, "evt_", "webhook event");
id_type!(HookDeliveryId, "dlv_", "webhook delivery");

fn random_id(prefix: &str, rng: &mut impl Rng) -> Result<String, RandomError> {
    let mut bytes = [0u8; RANDOM_BYTES];
    rng.fill(&mut bytes)?;
    let digits = base62::encode_fixed(&bytes, DIGITS).ok_or(RandomError)?;
    Ok(format!("{prefix}{digits}"))
}

fn has_shape(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == DIGITS && base62::is_base62(rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ports::FakeRng;

    #[test]
    fn generated_ids_parse_back_as_the_same_kind_only() {
        let id = ProjectId::generate(&mut FakeRng(7)).unwrap();
        assert!(id.as_str().starts_with("prj_"));
        assert_eq!(id.as_str().len(), 26);
        assert_eq!(ProjectId::parse(id.as_str()), Ok(id.clone()));
        assert!(OrgId::parse(id.as_str()).is_err());
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "prj_",
            "prj_short",
            "prj_../../etc/passwd000000",
            "prj_ABCDEFGHIJKLMNOPQRSTU!",
        ] {
            assert!(ProjectId::parse(bad).is_err(), "{bad}");
        }
    }
}
