//! The typed path parameters of the route declaration: which `{param}` names which kind of
//! thing, and how it parses. A parameter that does not parse names nothing, so it is the same
//! `404` (for `WHAT`) as a well-formed id that names nothing here, or in another tenant. The
//! edge's `PathId<T>` extractor reads `T::NAME` from the matched route and parses it with
//! `T::parse` before the handler runs; `{pid}` is the project scope's own.

use crate::domain::ids::{
    ExportId, HookEndpointId, HookEventId, IncidentId, KeyId, MemberId, OrgId, RepairId, RunId,
};
use crate::domain::reconcile::is_customer_id;

/// A path parameter that names one kind of thing.
pub trait PathParam: Sized {
    /// The route parameter it is read from (`rid` for `{rid}`).
    const NAME: &'static str;
    /// What a `404` for it says was not found.
    const WHAT: &'static str;
    fn parse(s: &str) -> Option<Self>;
}

macro_rules! id_param {
    ($ty:ty, $name:literal, $what:literal) => {
        impl PathParam for $ty {
            const NAME: &'static str = $name;
            const WHAT: &'static str = $what;
            fn parse(s: &str) -> Option<Self> {
                <$ty>::parse(s).ok()
            }
        }
    };
}

id_param!(OrgId, "oid", "org");
id_param!(MemberId, "mid", "member");
id_param!(KeyId, "kid", "key");
id_param!(IncidentId, "iid", "incident");
id_param!(RunId, "rid", "run");
id_param!(RepairId, "rid", "repair");
id_param!(ExportId, "eid", "export");
id_param!(HookEndpointId, "hid", "webhook endpoint");
id_param!(HookEventId, "evid", "webhook event");

/// A Stripe customer id as a path names it (`{cus}`): 1..=255 of `[A-Za-z0-9_]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerId(String);

impl CustomerId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PathParam for CustomerId {
    const NAME: &'static str = "cus";
    const WHAT: &'static str = "customer";
    fn parse(s: &str) -> Option<Self> {
        is_customer_id(s).then(|| CustomerId(s.to_owned()))
    }
}

/// The file of an export a path names (`{name}`): checked against the export's own files by
/// the handler, so any string parses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(pub String);

impl PathParam for FileName {
    const NAME: &'static str = "name";
    const WHAT: &'static str = "file";
    fn parse(s: &str) -> Option<Self> {
        Some(FileName(s.to_owned()))
    }
}

/// Every parameter with a `PathParam` type, and `pid` (the project scope's).
pub const TYPED: [&str; 10] = [
    "pid",
    OrgId::NAME,
    MemberId::NAME,
    KeyId::NAME,
    IncidentId::NAME,
    RepairId::NAME,
    ExportId::NAME,
    HookEndpointId::NAME,
    HookEventId::NAME,
    CustomerId::NAME,
];

/// The canonical path and query of a request whose path ends in `/` (`/v1/org/` is `/v1/org`,
/// `//` is `/`); `None` when the path is already canonical.
pub fn canonical(path: &str, query: Option<&str>) -> Option<String> {
    if path.len() <= 1 || !path.ends_with('/') {
        return None;
    }
    let trimmed = match path.trim_end_matches('/') {
        "" => "/",
        t => t,
    };
    Some(match query {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::routes::ROUTES;

    #[test]
    fn every_parameter_a_route_declares_has_a_type() {
        for r in ROUTES.iter() {
            let mut rest = r.path;
            while let Some(open) = rest.find('{') {
                let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
                let name = &rest[open + 1..close];
                assert!(
                    TYPED.contains(&name) || name == FileName::NAME,
                    "{} {}: {{{name}}} has no PathParam type",
                    r.method,
                    r.path
                );
                rest = &rest[close..];
            }
        }
        assert_eq!(
            RunId::NAME,
            RepairId::NAME,
            "runs and repairs share {{rid}}"
        );
    }

    #[test]
    fn a_malformed_parameter_parses_to_nothing() {
        assert!(<RepairId as PathParam>::parse("rep_0000000000000000000001").is_some());
        for bad in [
            "",
            "rep_1",
            "inc_0000000000000000000001",
            "rep_000000000000000000000!",
        ] {
            assert!(<RepairId as PathParam>::parse(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            CustomerId::parse("cus_ABC_123").map(|c| c.as_str().to_owned()),
            Some("cus_ABC_123".into())
        );
        for bad in ["", "cus 1", "cus-1", "cus_é", &"c".repeat(256)] {
            assert!(CustomerId::parse(bad).is_none(), "{bad:?}");
        }
        assert_eq!(<KeyId as PathParam>::WHAT, "key");
    }
}

#[cfg(test)]
mod canonical_tests {
    use super::canonical;

    #[test]
    fn a_trailing_slash_is_dropped_and_the_query_kept() {
        assert_eq!(canonical("/v1/org/", None).as_deref(), Some("/v1/org"));
        assert_eq!(
            canonical("/v1/org//", Some("a=1")).as_deref(),
            Some("/v1/org?a=1")
        );
        assert_eq!(canonical("//", None).as_deref(), Some("/"));
        assert_eq!(canonical("/", None), None);
        assert_eq!(canonical("/v1/org", Some("a=1")), None);
    }
}
