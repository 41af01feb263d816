//! Integration credentials as they arrive (SPEC §3, §14): which Stripe keys a project accepts,
//! webhook signing secrets, and database URLs. Everything here returns the non-secret view that
//! the API may show; the secrets themselves go straight to the vault.

use super::apikey::Environment;
use serde::Serialize;
use url::Url;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrationError {
    #[error(
        "live projects refuse full-access secret keys (sk_live_): ParityRail only reads from Stripe, so create a \
         restricted key (rk_live_) with read access to customers, subscriptions, products, prices, events and entitlements"
    )]
    LiveSecretKey,
    #[error("a {project} project needs a {expected} key")]
    WrongEnvironment {
        project: &'static str,
        expected: &'static str,
    },
    #[error("not a Stripe API key (expected rk_live_…, rk_test_… or sk_test_…)")]
    NotAStripeKey,
    #[error("webhook_secrets takes at most two secrets (two only while rotating)")]
    TooManyWebhookSecrets,
    #[error("a webhook secret must look like whsec_…")]
    BadWebhookSecret,
    #[error("{0}")]
    BadDatabaseUrl(&'static str),
    #[error(
        "live projects connect to their database over TLS only: remove sslmode=disable (sslmode=require is \
         the default) and give the server a certificate from a publicly trusted CA for the host in the URL"
    )]
    LiveWithoutTls,
}

impl IntegrationError {
    /// The field-level input error it is for a request whose URL field is `url_field`
    /// (`read_url`, `repair_url`): the message names the rule, never the value.
    pub fn input_error(&self, url_field: &str) -> super::input::InputError {
        let field = if self.field() == "url" {
            url_field
        } else {
            self.field()
        };
        super::input::InputError::InvalidField {
            field: field.to_owned(),
            message: self.to_string(),
        }
    }

    /// The request field at fault (`url` for either database URL).
    pub fn field(&self) -> &'static str {
        match self {
            IntegrationError::LiveSecretKey
            | IntegrationError::WrongEnvironment { .. }
            | IntegrationError::NotAStripeKey => "api_key",
            IntegrationError::TooManyWebhookSecrets | IntegrationError::BadWebhookSecret => {
                "webhook_secrets"
            }
            IntegrationError::BadDatabaseUrl(_) | IntegrationError::LiveWithoutTls => "url",
        }
    }
}

/// Non-secret view of a Stripe key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StripeKeyView {
    pub key_prefix: String,
    pub key_last4: String,
    pub restricted: bool,
}

fn token_chars(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A live project accepts only `rk_live_`; a test project `rk_test_` or `sk_test_`.
pub fn check_stripe_key(
    key: &str,
    project: Environment,
) -> Result<StripeKeyView, IntegrationError> {
    let prefix = ["rk_live_", "sk_live_", "rk_test_", "sk_test_"]
        .into_iter()
        .find(|p| key.starts_with(p));
    let Some(prefix) = prefix else {
        return Err(IntegrationError::NotAStripeKey);
    };
    if key.len() < prefix.len() + 8 || key.len() > 255 || !token_chars(key) {
        return Err(IntegrationError::NotAStripeKey);
    }
    match (project, prefix) {
        (Environment::Live, "rk_live_") | (Environment::Test, "rk_test_" | "sk_test_") => {}
        (Environment::Live, "sk_live_") => return Err(IntegrationError::LiveSecretKey),
        (Environment::Live, _) => {
            return Err(IntegrationError::WrongEnvironment {
                project: "live",
                expected: "restricted live (rk_live_)",
            })
        }
        (Environment::Test, _) => {
            return Err(IntegrationError::WrongEnvironment {
                project: "test",
                expected: "test (rk_test_ or sk_test_)",
            })
        }
    }
    Ok(StripeKeyView {
        key_prefix: prefix.to_owned(),
        key_last4: key[key.len() - 4..].to_owned(),
        restricted: prefix.starts_with("rk_"),
    })
}

/// At most two `whsec_…` secrets (two only during rotation).
pub fn check_webhook_secrets(secrets: &[String]) -> Result<(), IntegrationError> {
    if secrets.len() > 2 {
        return Err(IntegrationError::TooManyWebhookSecrets);
    }
    for s in secrets {
        let ok = s.strip_prefix("whsec_").is_some_and(|rest| {
            (8..=200).contains(&rest.len())
                && rest.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-')
                })
        });
        if !ok {
            return Err(IntegrationError::BadWebhookSecret);
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Require,
}

/// A parsed database URL. Holds the password: not `Serialize`, redacting `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
    pub sslmode: SslMode,
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DbUrl({})",
            serde_json::to_string(&self.view()).unwrap_or_default()
        )
    }
}

/// Non-secret view of a database URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbUrlView {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub sslmode: SslMode,
}

impl DbUrl {
    /// `postgres[ql]://user:password@host[:port]/database[?sslmode=disable|require]`.
    /// `sslmode` defaults to `require`; no other parameter is accepted (no `options=` injection).
    /// Errors never contain any part of the URL.
    pub fn parse(raw: &str) -> Result<Self, IntegrationError> {
        let bad = IntegrationError::BadDatabaseUrl;
        if raw.len() > 2048 {
            return Err(bad("the database URL is too long"));
        }
        let url = Url::parse(raw.trim())
            .map_err(|_| bad("not a URL: expected postgres://user:password@host:port/database"))?;
        if url.scheme() != "postgres" && url.scheme() != "postgresql" {
            return Err(bad("the scheme must be postgres:// or postgresql://"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(bad("the URL has no host"))?
            .to_owned();
        let host_ok = host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        });
        if !host_ok {
            return Err(bad(
                "the host must be a DNS name or an IP address (write an international name in its xn-- form)",
            ));
        }
        let decode = |s: &str| percent_decode(s).ok_or(bad("the URL has invalid percent-encoding"));
        let user = decode(url.username())?;
        if user.is_empty() {
            return Err(bad("the URL has no user"));
        }
        let password = decode(url.password().unwrap_or(""))?;
        let database = decode(url.path().trim_start_matches('/'))?;
        if database.is_empty() || database.contains('/') {
            return Err(bad("the URL must name one database: postgres://…/database"));
        }
        let mut sslmode = SslMode::Require;
        for (k, v) in url.query_pairs() {
            match (k.as_ref(), v.as_ref()) {
                ("sslmode", "disable") => sslmode = SslMode::Disable,
                ("sslmode", "require") => sslmode = SslMode::Require,
                ("sslmode", _) => return Err(bad("sslmode must be disable or require")),
                _ => return Err(bad("the only URL parameter accepted is sslmode")),
            }
        }
        if url.fragment().is_some() {
            return Err(bad("the URL must not have a fragment"));
        }
        Ok(DbUrl {
            host,
            port: url.port().unwrap_or(5432),
            database,
            user,
            password,
            sslmode,
        })
    }

    pub fn view(&self) -> DbUrlView {
        DbUrlView {
            host: self.host.clone(),
            port: self.port,
            database: self.database.clone(),
            user: self.user.clone(),
            sslmode: self.sslmode,
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A live project reaches its database over TLS only; a test project may also use
/// `sslmode=disable` (a local database, a CI container).
pub fn check_db_url(url: &DbUrl, project: Environment) -> Result<(), IntegrationError> {
    if project == Environment::Live && url.sslmode == SslMode::Disable {
        return Err(IntegrationError::LiveWithoutTls);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Environment::*;

    #[test]
    fn a_live_project_takes_only_restricted_live_keys() {
        assert!(check_stripe_key("rk_live_abcdefgh1234", Live).is_ok());
        let e = check_stripe_key("sk_live_abcdefgh1234", Live).unwrap_err();
        assert_eq!(e, IntegrationError::LiveSecretKey);
        assert!(e.to_string().contains("restricted key (rk_live_)"));
        assert!(!e.to_string().contains("abcdefgh"));
        assert!(matches!(
            check_stripe_key("rk_test_abcdefgh1234", Live),
            Err(IntegrationError::WrongEnvironment { .. })
        ));
        assert!(matches!(
            check_stripe_key("sk_test_abcdefgh1234", Live),
            Err(IntegrationError::WrongEnvironment { .. })
        ));
    }

    #[test]
    fn a_test_project_takes_test_keys_only() {
        assert_eq!(
            check_stripe_key("sk_test_abcdefgh1234", Test).unwrap(),
            StripeKeyView {
                key_prefix: "sk_test_".into(),
                key_last4: "1234".into(),
                restricted: false
            }
        );
        assert!(
            check_stripe_key("rk_test_abcdefgh1234", Test)
                .unwrap()
                .restricted
        );
        assert!(check_stripe_key("rk_live_abcdefgh1234", Test).is_err());
        assert!(check_stripe_key("sk_live_abcdefgh1234", Test).is_err());
    }

    #[test]
    fn garbage_is_not_a_stripe_key() {
        for bad in [
            "",
            "pk_test_abcdefgh1234",
            "sk_test_",
            "sk_test_abc",
            "sk_test_abc defgh123",
            "sk_test_abcdefgh1234\n",
        ] {
            assert_eq!(
                check_stripe_key(bad, Test).err(),
                Some(IntegrationError::NotAStripeKey),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn webhook_secrets_are_checked() {
        assert!(check_webhook_secrets(&[]).is_ok());
        assert!(
            check_webhook_secrets(&["whsec_abcdefgh12".into(), "whsec_ijklmnop34".into()]).is_ok()
        );
        assert_eq!(
            check_webhook_secrets(&["whsec_a".into()]),
            Err(IntegrationError::BadWebhookSecret)
        );
        assert_eq!(
            check_webhook_secrets(&["sk_test_abcdefgh".into()]),
            Err(IntegrationError::BadWebhookSecret)
        );
        assert_eq!(
            check_webhook_secrets(&vec!["whsec_abcdefgh12".into(); 3]),
            Err(IntegrationError::TooManyWebhookSecrets)
        );
    }

    #[test]
    fn database_urls_parse_into_a_non_secret_view() {
        let u =
            DbUrl::parse("postgres://reader:p%40ss%3Aw0rd@db.example.com:6543/app?sslmode=require")
                .unwrap();
        assert_eq!(u.password, "p@ss:w0rd");
        assert_eq!(
            u.view(),
            DbUrlView {
                host: "db.example.com".into(),
                port: 6543,
                database: "app".into(),
                user: "reader".into(),
                sslmode: SslMode::Require
            }
        );
        assert!(!format!("{u:?}").contains("p@ss"));
        let d = DbUrl::parse("postgresql://u:p@127.0.0.1/app?sslmode=disable").unwrap();
        assert_eq!((d.port, d.sslmode), (5432, SslMode::Disable));
        assert_eq!(
            DbUrl::parse("postgres://u:p@h/db").unwrap().sslmode,
            SslMode::Require
        );
    }

    #[test]
    fn bad_database_urls_are_refused_without_echoing_them() {
        for bad in [
            "",
            "mysql://u:topsecret@h/db",
            "postgres://u:topsecret@/db",
            "postgres://:topsecret@h/db",
            "postgres://u:topsecret@h/",
            "postgres://u:topsecret@h/db?options=-c%20default_transaction_read_only%3Doff",
            "postgres://u:topsecret@h/db?sslmode=allow",
            "postgres://u:topsecret@h/a/b",
            // A host is a DNS name or an IP address: an international name goes in its ASCII
            // (xn--) form, and nothing percent-encoded reaches the connector.
            "postgres://u:topsecret@b\u{fc}cher.example/db",
        ] {
            let e = DbUrl::parse(bad).unwrap_err();
            assert!(!e.to_string().contains("topsecret"), "{bad}");
        }
    }

    #[test]
    fn a_host_in_its_ascii_form_is_taken() {
        let u = DbUrl::parse("postgres://u:p@xn--bcher-kva.example/db").unwrap();
        assert_eq!(u.host, "xn--bcher-kva.example");
    }

    #[test]
    fn a_live_project_refuses_a_database_url_without_tls() {
        let plain = DbUrl::parse("postgres://u:p@db.example.com/app?sslmode=disable").unwrap();
        let tls = DbUrl::parse("postgres://u:p@db.example.com/app").unwrap();
        assert_eq!(
            check_db_url(&plain, Live),
            Err(IntegrationError::LiveWithoutTls)
        );
        assert_eq!(IntegrationError::LiveWithoutTls.field(), "url");
        assert!(check_db_url(&tls, Live).is_ok());
        assert!(check_db_url(&plain, Test).is_ok());
    }
}
