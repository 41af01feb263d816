//! Where a request carries its API key (SPEC §2): `Authorization: Bearer <key>` (the scheme in
//! any case), else the `api_key` query parameter. A present but malformed `Authorization`
//! header is a credential that never authenticates (the empty string), not a fall-back to the
//! query: a request with a bad header and a good `?api_key=` is refused.

use super::query::query_param;

/// The credential of a request whose `Authorization` header is `authorization` (`Some("")`
/// when present but not visible ASCII) and whose query string is `query`; `None` when it
/// carries none.
pub fn credential(authorization: Option<&str>, query: Option<&str>) -> Option<String> {
    if let Some(h) = authorization {
        let mut parts = h.splitn(2, ' ');
        let scheme = parts.next().unwrap_or("");
        let value = parts.next().unwrap_or("").trim();
        if scheme.eq_ignore_ascii_case("bearer") && !value.is_empty() {
            return Some(value.to_owned());
        }
        return Some(String::new()); // present but malformed
    }
    query_param(query, "api_key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_header_carries_the_key_in_any_case_of_the_scheme() {
        for h in [
            "Bearer pr_live_x",
            "bearer pr_live_x",
            "BEARER   pr_live_x  ",
        ] {
            assert_eq!(
                credential(Some(h), None).as_deref(),
                Some("pr_live_x"),
                "{h}"
            );
        }
    }

    #[test]
    fn a_malformed_header_is_an_empty_credential_and_the_query_is_not_read() {
        for h in [
            "",
            "Bearer",
            "Bearer ",
            "Basic abc",
            "pr_live_x",
            "Token pr_live_x",
        ] {
            assert_eq!(
                credential(Some(h), Some("api_key=pr_live_q")).as_deref(),
                Some(""),
                "{h}"
            );
        }
    }

    #[test]
    fn without_a_header_the_api_key_parameter_is_the_credential() {
        assert_eq!(
            credential(None, Some("a=1&api_key=pr_live_q")).as_deref(),
            Some("pr_live_q")
        );
        assert_eq!(
            credential(None, Some("api_key=pr%5Flive+q")).as_deref(),
            Some("pr_live q")
        );
        assert_eq!(
            credential(None, Some("api_key=one&api_key=two")).as_deref(),
            Some("one")
        );
        assert_eq!(credential(None, Some("apikey=x")), None);
        assert_eq!(credential(None, None), None);
    }
}
