//! Log hygiene: the only form of a request URL that may reach a log line. An `api_key` query
//! parameter (SPEC §2) is replaced by `[redacted]`, whatever its case or encoding: the whole
//! parameter name is percent- and form-decoded before it is compared, so `%61pi_key`,
//! `api%5Fkey` and `API_KEY` are all caught without relying on the runtime's normalisation.

/// Returns `path?query` with every `api_key` parameter's value redacted.
pub fn scrub_path_and_query(path: &str, query: Option<&str>) -> String {
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return path.to_owned();
    };
    let parts: Vec<String> = q
        .split('&')
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            if is_api_key_name(pair) {
                format!("{name}=[redacted]")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

/// Whether the pair's fully decoded name is `api_key` (any case).
fn is_api_key_name(pair: &str) -> bool {
    let name = pair.split('=').next().unwrap_or("");
    url::form_urlencoded::parse(name.as_bytes())
        .next()
        .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("api_key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_key_parameter_is_redacted_wherever_it_stands() {
        assert_eq!(
            scrub_path_and_query("/v1/org", Some("api_key=pr_live_secret")),
            "/v1/org?api_key=[redacted]"
        );
        assert_eq!(
            scrub_path_and_query("/v1/org", Some("limit=5&API_KEY=pr_live_secret&x=1")),
            "/v1/org?limit=5&API_KEY=[redacted]&x=1"
        );
        assert_eq!(
            scrub_path_and_query("/v1/org", Some("api%5Fkey=pr_test_s")),
            "/v1/org?api%5Fkey=[redacted]"
        );
    }

    #[test]
    fn every_encoding_of_the_name_is_decoded_before_comparing() {
        for name in [
            "%61pi_key",
            "%61%70%69%5f%6b%65%79",
            "Api%5FKey",
            "%41PI_KEY",
        ] {
            let q = format!("{name}=pr_live_secret&limit=2");
            let out = scrub_path_and_query("/v1/org", Some(&q));
            assert!(!out.contains("pr_live_secret"), "{name}: {out}");
            assert!(out.ends_with("&limit=2"));
        }
        assert_eq!(
            scrub_path_and_query("/v1/org", Some("api_keys=1&xapi_key=2")),
            "/v1/org?api_keys=1&xapi_key=2"
        );
    }

    #[test]
    fn other_parameters_are_kept() {
        assert_eq!(
            scrub_path_and_query("/v1/a", Some("limit=5")),
            "/v1/a?limit=5"
        );
        assert_eq!(scrub_path_and_query("/v1/a", None), "/v1/a");
    }
}
