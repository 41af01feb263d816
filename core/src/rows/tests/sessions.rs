use crate::domain::apikey::{Capability, Environment};
use crate::domain::ids::{KeyId, MemberId, OrgId};
use crate::domain::ports::FakeRng;
use crate::domain::roles::Role;
use crate::domain::sessions::{Via, ABSOLUTE_MS, IDLE_MS};
use crate::domain::time::Timestamp;
use crate::rows::keys::KeyAuth;
use crate::rows::sessions::{LinkFor, LinkRow, NewLink, NewSession, SessionRow};

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000 + ms)
}

fn key(n: u8, member: &MemberId, role: Role, cap: Capability) -> KeyAuth {
    KeyAuth {
        key_id: KeyId::generate(&mut FakeRng(n)).unwrap(),
        org: OrgId::generate(&mut FakeRng(9)).unwrap(),
        member: member.clone(),
        role,
        environment: Environment::Live,
        project: None,
        capability: cap,
        expires_at: None,
        revoked: false,
        last_used_at: None,
        origin: None,
    }
}

#[test]
fn a_session_acts_with_its_step_up_only_while_it_lasts_and_ends_with_its_key_or_role() {
    let member = MemberId::generate(&mut FakeRng(1)).unwrap();
    let own = key(2, &member, Role::Admin, Capability::Read);
    let up = key(3, &member, Role::Admin, Capability::Repair);
    let mut s = NewSession::open(&own, Via::Email, t(0), &mut FakeRng(4))
        .unwrap()
        .auth;
    assert_eq!(s.acting(None, Some(own.clone()), t(1)), Some(own.clone()));
    s.step_up = Some((up.key_id.clone(), t(600_000)));
    assert_eq!(
        s.acting(Some(up.clone()), Some(own.clone()), t(1)),
        Some(up.clone())
    );
    assert_eq!(
        s.acting(Some(up.clone()), Some(own.clone()), t(600_000)),
        Some(own.clone()),
        "the step-up is over"
    );
    let revoked_up = KeyAuth {
        revoked: true,
        ..up.clone()
    };
    assert_eq!(
        s.acting(Some(revoked_up), Some(own.clone()), t(1)),
        Some(own.clone())
    );
    let revoked = KeyAuth {
        revoked: true,
        ..own.clone()
    };
    assert_eq!(s.acting(None, Some(revoked), t(1)), None, "its key revoked");
    assert_eq!(s.acting(None, None, t(1)), None, "its key or member gone");
    let expired = KeyAuth {
        expires_at: Some(t(1)),
        ..own.clone()
    };
    assert_eq!(s.acting(None, Some(expired), t(1)), None);
    let demoted = KeyAuth {
        role: Role::Member,
        ..own.clone()
    };
    assert_eq!(
        s.acting(None, Some(demoted), t(1)),
        None,
        "its member demoted"
    );
    let other = MemberId::generate(&mut FakeRng(7)).unwrap();
    let foreign = key(2, &other, Role::Admin, Capability::Read);
    assert_eq!(
        s.acting(None, Some(foreign), t(1)),
        None,
        "another member's key"
    );
    assert_eq!(s.acting(None, Some(own.clone()), t(IDLE_MS)), None, "idle");
    s.life.last_seen_at = t(ABSOLUTE_MS - 1);
    assert_eq!(
        s.acting(None, Some(own.clone()), t(ABSOLUTE_MS)),
        None,
        "12 hours"
    );
}

#[test]
fn rows_that_do_not_parse_open_nothing() {
    let row = |step_key: Option<&str>, until: Option<&str>, via: &str| SessionRow {
        id: "ses_x".into(),
        org_id: OrgId::generate(&mut FakeRng(1)).unwrap().to_string(),
        via: via.into(),
        member_id: MemberId::generate(&mut FakeRng(2)).unwrap().to_string(),
        key_id: KeyId::generate(&mut FakeRng(3)).unwrap().to_string(),
        signed_in_role: "admin".into(),
        step_up_key_id: step_key.map(str::to_owned),
        step_up_until: until.map(str::to_owned),
        created_at: t(0).to_rfc3339(),
        last_seen_at: t(0).to_rfc3339(),
    };
    let k = KeyId::generate(&mut FakeRng(5)).unwrap().to_string();
    assert!(row(None, None, "email").parse().is_some());
    assert!(row(Some(&k), Some(&t(1).to_rfc3339()), "key")
        .parse()
        .is_some());
    assert!(
        row(Some(&k), None, "email").parse().is_none(),
        "half a step-up"
    );
    assert!(row(None, None, "cookie").parse().is_none());
    let link = |purpose: &str, session: Option<&str>| LinkRow {
        org_id: OrgId::generate(&mut FakeRng(1)).unwrap().to_string(),
        member_id: MemberId::generate(&mut FakeRng(2)).unwrap().to_string(),
        environment: "live".into(),
        purpose: purpose.into(),
        session_id: session.map(str::to_owned),
    };
    assert!(link("sign_in", None).parse().is_some());
    assert!(link("step_up", Some("ses_x")).parse().is_some());
    assert!(link("step_up", None).parse().is_none());
    assert!(link("sign_in", Some("ses_x")).parse().is_none());
    let to = LinkFor::SignIn { nonce_hash: "h" };
    let l = NewLink::new("mem_x", Environment::Test, to, t(0), &mut FakeRng(6)).unwrap();
    assert_eq!(l.nonce_hash.as_deref(), Some("h"));
    assert_eq!(l.expires_at, t(10 * 60_000));
}
