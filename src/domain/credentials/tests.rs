use super::*;
use crate::domain::ports::FakeRng;
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

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(f)
}

const URL: &str = "postgres://repairer:s3cret-pw@db.example.com:5432/app";

#[test]
fn a_credential_opens_only_for_the_org_project_and_kind_it_was_sealed_for() {
    let k = ring(KEY);
    let creds = |s: Store, org, project| Credentials {
        store: s,
        ring: &k,
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
        let got = run(c.open(kind)).map(|_| ());
        assert_eq!(
            got,
            Err(CredentialError::DoesNotOpen {
                id: "cred_1".into()
            })
        );
    }
    // Under a keyring without the key it was sealed with: it does not open either.
    let other = ring(OTHER_KEY);
    let c = Credentials {
        store: store(&[(Kind::StripeApiKey, mine)]),
        ring: &other,
        org: "org_A",
        project: "prj_A",
    };
    assert!(matches!(
        run(c.open(Kind::StripeApiKey)),
        Err(CredentialError::DoesNotOpen { .. })
    ));
}

#[test]
fn a_missing_credential_names_its_integration_and_a_store_failure_is_the_store_s() {
    let k = ring(KEY);
    for (kind, what) in [
        (Kind::StripeApiKey, "Stripe"),
        (Kind::DbReadUrl, "database"),
        (Kind::DbRepairUrl, "database repair_url"),
    ] {
        let c = Credentials {
            store: Store::default(),
            ring: &k,
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
        ring: &k,
        org: "org_A",
        project: "prj_A",
    };
    assert_eq!(
        run(c.open(Kind::StripeApiKey)).map(|_| ()),
        Err(CredentialError::Store("d1 down"))
    );
}

#[test]
fn a_stored_url_is_checked_against_the_environment_and_no_error_shows_it() {
    let k = ring(KEY);
    let plain = format!("{URL}?sslmode=disable");
    let with = |value: &str| Credentials {
        store: store(&[(
            Kind::DbRepairUrl,
            sealed_for("org_A", "prj_A", Kind::DbRepairUrl, value),
        )]),
        ring: &k,
        org: "org_A",
        project: "prj_A",
    };
    let url = run(with(URL).db_url(Kind::DbRepairUrl, Environment::Live)).unwrap();
    assert_eq!(url.host, "db.example.com");
    // Without TLS: a test project may, a live one is refused, under the field it was stored as.
    assert!(run(with(&plain).db_url(Kind::DbRepairUrl, Environment::Test)).is_ok());
    let refused = run(with(&plain).db_url(Kind::DbRepairUrl, Environment::Live));
    match &refused {
        Err(CredentialError::Refused(InputError::InvalidField { field, .. })) => {
            assert_eq!(field, "repair_url")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let garbage = run(with("not a url s3cret-pw").db_url(Kind::DbRepairUrl, Environment::Test));
    assert_eq!(
        garbage.as_ref().map(|_| ()),
        Err(&CredentialError::Unparsable {
            id: "cred_1".into()
        })
    );
    for e in [format!("{refused:?}"), format!("{garbage:?}")] {
        assert!(!e.contains("s3cret-pw"), "{e}");
    }
}
