//! Untrusted request bodies and fields. Every failure becomes an `InputError` that names the
//! field at fault; nothing here panics on any input, and nothing is echoed back beyond a
//! (truncated) field name.

use serde::de::DeserializeOwned;

/// Largest JSON body the API accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the request body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the request body is not valid UTF-8")]
    InvalidUtf8,
    #[error("the request body is not valid JSON")]
    InvalidJson,
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
}

impl InputError {
    /// The stable code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            InputError::TooLarge => "payload_too_large",
            InputError::InvalidUtf8 => "invalid_utf8",
            InputError::InvalidJson => "invalid_json",
            InputError::InvalidField { .. } => "invalid_field",
        }
    }

    /// What a person is shown (a field's refusal without the field's name, which goes beside).
    pub fn message(&self) -> String {
        match self {
            InputError::InvalidField { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        InputError::InvalidField {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Parses a JSON body into `T` (whose unknown fields should be denied by its serde attributes).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, InputError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(InputError::TooLarge);
    }
    if std::str::from_utf8(body).is_err() {
        return Err(InputError::InvalidUtf8);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        use serde_json::error::Category;
        match e.inner().classify() {
            Category::Data => data_error(e.path().to_string(), &e.inner().to_string()),
            Category::Syntax | Category::Eof | Category::Io => InputError::InvalidJson,
        }
    })?;
    de.end().map_err(|_| InputError::InvalidJson)?;
    Ok(value)
}

fn data_error(path: String, message: &str) -> InputError {
    // serde reports "unknown field `x`, expected …" and "missing field `x`" at the parent path.
    // A missing field is one of ours and is named; an unknown one is the client's own text and
    // is not echoed: the error names where it stands (its parent, or `body`).
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
    };
    let missing = named("missing field `");
    let unknown = named("unknown field `");
    let field = match (missing, unknown) {
        (Some(name), _) if path == "." => name.to_owned(),
        (Some(name), _) if path == name || path.ends_with(&format!(".{name}")) => path,
        (Some(name), _) => format!("{path}.{name}"),
        (None, Some(name)) => match path.strip_suffix(name) {
            Some("") | None if path == name || path == "." => "body".to_owned(),
            Some(parent) => parent.trim_end_matches('.').to_owned(),
            None => path,
        },
        (None, None) => path,
    };
    let unknown = unknown.is_some();
    let field = safe_field(&field);
    // Keep only what serde says it *expected* (our own types' vocabulary); never the input it
    // quotes ("invalid value: string \"…\"", "unknown variant `…`") or its position.
    let message = message.split(" at line ").next().unwrap_or(message);
    let message = if unknown {
        match message.split_once(", expected") {
            Some((_, expected)) => format!(
                "unknown field; expected{}",
                expected.chars().take(160).collect::<String>()
            ),
            None => "unknown field".to_owned(),
        }
    } else if message.starts_with("missing field") {
        "is required".to_owned()
    } else if let Some((_, expected)) = message.split_once(", expected") {
        format!("expected{}", expected.chars().take(160).collect::<String>())
    } else if message.starts_with("expected") && !message.contains('`') && !message.contains('"') {
        // Our own Deserialize impls (timestamps, roles…) say what they expected and nothing else.
        message.chars().take(160).collect()
    } else {
        "invalid value".to_owned()
    };
    InputError::InvalidField { field, message }
}

/// The field path as it may appear in an error: JSON keys come from the request, so only a short
/// path of identifier characters is echoed; anything else is replaced by where it stands.
pub fn safe_field(path: &str) -> String {
    let ok = path.len() <= 64
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'));
    if ok {
        path.to_owned()
    } else {
        "body".to_owned()
    }
}

/// A display name: 1..=100 characters, no control characters, trimmed.
/// Invisible characters that change how the text around them reads (bidirectional overrides
/// and isolates, zero-width characters, the BOM, the soft hyphen): refused in names and reasons
/// so a key or org name cannot be made to look like another.
fn invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

pub fn name(field: &str, s: &str) -> Result<String, InputError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > 100 || t.chars().any(|c| c.is_control() || invisible(c))
    {
        return Err(InputError::field(
            field,
            "must be 1 to 100 printable characters",
        ));
    }
    Ok(t.to_owned())
}

/// A reason a person gives (ignoring an incident, rejecting a repair): 1..=500 characters, no
/// control characters but newlines and tabs, trimmed.
pub fn reason(field: &str, s: &str) -> Result<String, InputError> {
    let t = s.trim();
    let bad = |c: char| (c.is_control() && c != '\n' && c != '\t') || invisible(c);
    if t.is_empty() || t.chars().count() > 500 || t.chars().any(bad) {
        return Err(InputError::field(
            field,
            "must be 1 to 500 characters without control characters",
        ));
    }
    Ok(t.to_owned())
}

/// An e-mail address, normalised to lower case. Deliberately simple: one `@`, non-empty parts,
/// a dot in the domain, no spaces or controls, at most 254 bytes.
pub fn email(field: &str, s: &str) -> Result<String, InputError> {
    let t = s.trim().to_ascii_lowercase();
    let ok = t.len() <= 254
        && !t.chars().any(|c| c.is_whitespace() || c.is_control())
        && match t.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            }
            None => false,
        };
    if ok {
        Ok(t)
    } else {
        Err(InputError::field(field, "must be an e-mail address"))
    }
}

/// `limit` query parameter: 1..=100, default 50.
pub fn limit(raw: Option<&str>) -> Result<u32, InputError> {
    match raw {
        None => Ok(50),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(InputError::field(
                "limit",
                "must be an integer from 1 to 100",
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: String,
        n: Option<u32>,
    }

    #[test]
    fn a_good_body_parses() {
        assert_eq!(
            parse_json::<Body>(br#"{"name":"a","n":3}"#),
            Ok(Body {
                name: "a".into(),
                n: Some(3)
            })
        );
    }

    #[test]
    fn malformed_json_invalid_utf8_and_oversize_are_told_apart() {
        assert_eq!(
            parse_json::<Body>(b"{\"name\":"),
            Err(InputError::InvalidJson)
        );
        assert_eq!(parse_json::<Body>(b""), Err(InputError::InvalidJson));
        assert_eq!(
            parse_json::<Body>(b"{\"name\":\"a\"} trailing"),
            Err(InputError::InvalidJson)
        );
        assert_eq!(
            parse_json::<Body>(b"{\"name\":\"\xff\"}"),
            Err(InputError::InvalidUtf8)
        );
        let big = format!("{{\"name\":\"{}\"}}", "a".repeat(MAX_BODY_BYTES));
        assert_eq!(
            parse_json::<Body>(big.as_bytes()),
            Err(InputError::TooLarge)
        );
    }

    #[test]
    fn wrong_types_unknown_and_missing_fields_name_the_field() {
        let e = parse_json::<Body>(br#"{"name":"a","n":"three"}"#).unwrap_err();
        assert!(
            matches!(e, InputError::InvalidField { ref field, .. } if field == "n"),
            "{e:?}"
        );
        // An unknown field is not echoed (it is the client's text, maybe a secret): `body`.
        let e = parse_json::<Body>(br#"{"name":"a","pr_live_looks_like_a_key":true}"#).unwrap_err();
        assert!(
            matches!(e, InputError::InvalidField { ref field, ref message } if field == "body" && !message.contains("pr_live")),
            "{e:?}"
        );
        let e = parse_json::<Body>(br#"{"n":1}"#).unwrap_err();
        assert!(
            matches!(e, InputError::InvalidField { ref field, .. } if field == "name"),
            "{e:?}"
        );
        let e = parse_json::<Body>(br#"[1,2]"#).unwrap_err();
        assert!(matches!(e, InputError::InvalidField { .. }), "{e:?}");
    }

    #[test]
    fn errors_never_echo_the_input_back() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct B {
            role: crate::domain::roles::Role,
            n: Option<u32>,
        }
        let marker = "<script>zz-marker</script>";
        for body in [
            format!(r#"{{"role": "{marker}"}}"#),
            format!(r#"{{"role": "member", "n": "{marker}"}}"#),
            format!(r#"{{"role": "member", "{marker}": 1}}"#),
            format!(r#"{{"role": "member", "n": {{"{marker}": 1}}}}"#),
        ] {
            let e = parse_json::<B>(body.as_bytes()).unwrap_err();
            let text = format!("{e} {e:?}");
            assert!(!text.contains("zz-marker"), "{text}");
            assert!(matches!(e, InputError::InvalidField { .. }));
        }
        let e = parse_json::<B>(br#"{"role": "boss"}"#).unwrap_err();
        assert_eq!(
            e,
            InputError::field("role", "expected one of `member`, `admin`, `owner`")
        );
    }

    #[test]
    fn names_and_emails_are_validated() {
        assert_eq!(name("name", "  Acme "), Ok("Acme".into()));
        assert!(name("name", "").is_err());
        assert!(name("name", "a\u{0}b").is_err());
        assert!(name("name", &"x".repeat(101)).is_err());
        // Bidi overrides and zero-width characters would let one name pass for another.
        for spoof in [
            "prod\u{202E}yek",
            "admin\u{200B}",
            "\u{2067}x",
            "a\u{FEFF}b",
        ] {
            assert!(name("name", spoof).is_err(), "{spoof:?}");
            assert!(reason("reason", spoof).is_err(), "{spoof:?}");
        }
        assert_eq!(name("name", "Zürich Café ✓"), Ok("Zürich Café ✓".into()));
        assert_eq!(
            email("email", "Ada@Example.com"),
            Ok("ada@example.com".into())
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.com",
            "a b@x.com",
            "ada@localhost",
            "a@b@c.com",
        ] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None), Ok(50));
        assert_eq!(limit(Some("100")), Ok(100));
        assert!(limit(Some("0")).is_err());
        assert!(limit(Some("101")).is_err());
        assert!(limit(Some("-1")).is_err());
    }
}
