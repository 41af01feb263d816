//! Log hygiene: the only form of a request URL that may reach a log line. An `api_key` query
//! parameter (SPEC §2) is replaced by `[redacted]`, whatever its case or encoding.

/// Returns `path?query` with every `api_key` parameter's value redacted.
pub fn scrub_path_and_query(path: &str, query: Option<&str>) -> String {
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return path.to_owned();
    };
    let parts: Vec<String> = q
        .split('&')
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            if is_api_key_name(name) {
                format!("{name}=[redacted]")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

fn is_api_key_name(name: &str) -> bool {
    let decoded = name.replace("%5F", "_").replace("%5f", "_");
    decoded.eq_ignore_ascii_case("api_key")
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
    fn other_parameters_are_kept() {
        assert_eq!(
            scrub_path_and_query("/v1/a", Some("limit=5")),
            "/v1/a?limit=5"
        );
        assert_eq!(scrub_path_and_query("/v1/a", None), "/v1/a");
    }
}
