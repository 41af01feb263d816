use super::*;
use crate::domain::ports::FakeRng;
use crate::domain::test_support::block_on as run;
use std::collections::BTreeMap;

const KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY: &str = "k2:HxwdHh8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRo=";

/// Sealed rows by kind.
#[derive(Default)]
struct Store(BTreeMap<&'static str, Sealed>);

impl CredentialStore for Store {
    type Error = &'static str;
    async fn sealed(&self, kind: Kind) -> Result<Option<Sealed>, &'static str> {
        Ok(self.0.get(kind.as_str()).cloned())
    }
}

struct Failing;

impl CredentialStore for Failing {
    type Error = &'static str;
    async fn sealed(&self, _: Kind) -> Result<Option<Sealed>, &'static str> {
        Err("d1 down")
    }
}

fn ring(spec: &str) -> Keyring {
    Keyring::parse(spec).unwrap()
}

fn key() -> Result<Keyring, &'static str> {
    Ok(ring(KEY))
}

fn other_key() -> Result<Keyring, &'static str> {
    Ok(ring(OTHER_KEY))
}

fn no_key() -> Result<Keyring, &'static str> {
    Err("CREDENTIALS_ENCRYPTION_KEY is not set")
}

fn does_not_open<T>(r: &Result<T, CredentialError<&'static str>>) -> bool {
    matches!(r, Err(CredentialError::DoesNotOpen { id, .. }) if id == "cred_1")
}

/// `value` sealed as project `project`'s credential of `kind` (id `cred_1`) in org `org_A`.
fn sealed_for(org: &str, project: &str, kind: Kind, value: &str) -> Sealed {
    let b = Binding {
        org_id: org,
        project_id: project,
        kind: kind.as_str(),
        credential_id: "cred_1",
    };
    Sealed {
        id: "cred_1".into(),
        sealed: ring(KEY).seal(&b, value, &mut FakeRng(7)).unwrap(),
    }
}

fn store(rows: &[(Kind, Sealed)]) -> Store {
    Store(rows.iter().map(|(k, s)| (k.as_str(), s.clone())).collect())
}

const URL: &str = "postgres://repairer:s3cret-pw@db.example.com:5432/app";

#[test]
fn a_credential_opens_only_for_the_org_project_kind_and_id_it_was_sealed_for() {
    let creds = |s: Store, org, project| Credentials {
        store: s,
        ring: &key,
        org,
        project,
    };
    let mine = sealed_for("org_A", "prj_A", Kind::StripeApiKey, "rk_test_abc");
    let got = run(creds(
        store(&[(Kind::StripeApiKey, mine.clone())]),
        "org_A",
        "prj_A",
    )
    .open(Kind::StripeApiKey));
    assert_eq!(got.map(|s| s.expose().to_owned()), Ok("rk_test_abc".into()));

    // The same row handed to another project, another org, or as another kind: it does not open.
    let moved = [
        (
            creds(
                store(&[(Kind::StripeApiKey, mine.clone())]),
                "org_A",
                "prj_B",
            ),
            Kind::StripeApiKey,
        ),
        (
            creds(
                store(&[(Kind::StripeApiKey, mine.clone())]),
                "org_B",
                "prj_A",
            ),
            Kind::StripeApiKey,
        ),
        (
            creds(store(&[(Kind::DbReadUrl, mine.clone())]), "org_A", "prj_A"),
            Kind::DbReadUrl,
        ),
    ];
    for (c, kind) in moved {
        assert!(does_not_open(&run(c.open(kind))));
    }
    // Under another credential id (a row's blob copied into another row): it does not open.
    let mut copied = mine.clone();
    copied.id = "cred_2".into();
    let got = run(
        creds(store(&[(Kind::StripeApiKey, copied)]), "org_A", "prj_A").open(Kind::StripeApiKey),
    );
    assert!(matches!(got, Err(CredentialError::DoesNotOpen { ref id, .. }) if id == "cred_2"));
    // Under a keyring without the key it was sealed with: it does not open either, and says why.
    let c = Credentials {
        store: store(&[(Kind::StripeApiKey, mine)]),
        ring: &other_key,
        org: "org_A",
        project: "prj_A",
    };
    let got = run(c.open(Kind::StripeApiKey));
    assert!(does_not_open(&got));
    if let Err(CredentialError::DoesNotOpen { why, .. }) = got {
        assert_eq!(why, VaultError::UnknownKey);
    }
}

#[test]
fn a_missing_credential_names_its_integration_whatever_the_keyring_and_a_store_failure_is_the_store_s(
) {
    for (kind, what) in [
        (Kind::StripeApiKey, "Stripe"),
        (Kind::DbReadUrl, "database"),
        (Kind::DbRepairUrl, "database repair_url"),
    ] {
        // No keyring configured: a project without the credential is still told it has none.
        let c = Credentials {
            store: Store::default(),
            ring: &no_key,
            org: "org_A",
            project: "prj_A",
        };
        assert_eq!(
            run(c.open(kind)).map(|_| ()),
            Err(CredentialError::Missing(what))
        );
    }
    let c = Credentials {
        store: Failing,
        ring: &key,
        org: "org_A",
        project: "prj_A",
    };
    assert_eq!(
        run(c.open(Kind::StripeApiKey)).map(|_| ()),
        Err(CredentialError::Store("d1 down"))
    );
    // A credential found, the keyring not loadable: the keyring's failure.
    let c = Credentials {
        store: store(&[(
            Kind::StripeApiKey,
            sealed_for("org_A", "prj_A", Kind::StripeApiKey, "x"),
        )]),
        ring: &no_key,
        org: "org_A",
        project: "prj_A",
    };
    assert_eq!(
        run(c.open(Kind::StripeApiKey)).map(|_| ()),
        Err(CredentialError::Store(
            "CREDENTIALS_ENCRYPTION_KEY is not set"
        ))
    );
}

#[test]
fn a_stored_url_is_checked_against_the_environment_and_no_error_shows_it() {
    let plain = format!("{URL}?sslmode=disable");
    let with = |kind: Kind, value: &str| Credentials {
        store: store(&[(kind, sealed_for("org_A", "prj_A", kind, value))]),
        ring: &key,
        org: "org_A",
        project: "prj_A",
    };
    let url =
        run(with(Kind::DbRepairUrl, URL).db_url(Kind::DbRepairUrl, Environment::Live)).unwrap();
    assert_eq!(url.host, "db.example.com");
    // Without TLS: a test project may, a live one is refused, under the field it was stored as.
    for (kind, field) in [
        (Kind::DbReadUrl, "read_url"),
        (Kind::DbRepairUrl, "repair_url"),
    ] {
        assert!(run(with(kind, &plain).db_url(kind, Environment::Test)).is_ok());
        let refused = run(with(kind, &plain).db_url(kind, Environment::Live));
        match &refused {
            Err(CredentialError::Refused(InputError::InvalidField { field: f, .. })) => {
                assert_eq!(f, field)
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(!format!("{refused:?}").contains("s3cret-pw"));
    }
    let garbage =
        run(with(Kind::DbRepairUrl, "not a url s3cret-pw")
            .db_url(Kind::DbRepairUrl, Environment::Test));
    assert_eq!(
        garbage.as_ref().map(|_| ()),
        Err(&CredentialError::Unparsable {
            id: "cred_1".into()
        })
    );
    assert!(!format!("{garbage:?}").contains("s3cret-pw"));
}
