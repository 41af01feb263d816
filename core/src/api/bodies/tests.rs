use super::*;
use serde::de::DeserializeOwned;

fn parse<T: DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_str(s).map_err(|e| e.to_string())
}

#[test]
fn a_body_refuses_a_field_it_does_not_know() {
    assert!(parse::<Rotate>(r#"{"grace_seconds": 5, "x": 1}"#).is_err());
    assert!(parse::<Ignore>(r#"{"reason": "r", "by": "me"}"#).is_err());
    assert!(parse::<Reject>(r#"{"reason": "r", "force": true}"#).is_err());
    assert!(parse::<AddMember>(r#"{"email": "a@b.c", "role": "admin", "name": "A"}"#).is_err());
    assert!(parse::<CreateOrg>(r#"{"name": "o", "owner_email": "a@b.c", "plan": "pro"}"#).is_err());
    assert!(parse::<PutDatabase>(r#"{"read_url": "postgres://h/d", "write_url": "x"}"#).is_err());
    assert!(parse::<SetRole>(r#"{"role": null, "project": "p"}"#).is_err());
}

#[test]
fn a_key_body_parses_its_enums_and_time() {
    let k: CreateKey = parse(
        r#"{"name": "ci", "environment": "test", "capability": "repair",
            "project_id": "prj_1", "expires_at": "2030-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    assert_eq!(k.environment, Environment::Test);
    assert_eq!(k.capability, Capability::Repair);
    assert_eq!(k.project_id.as_deref(), Some("prj_1"));
    assert_eq!(k.member_id, None);
    assert_eq!(
        k.expires_at,
        Some(Timestamp::parse("2030-01-01T00:00:00Z").unwrap())
    );
    assert!(
        parse::<CreateKey>(r#"{"name": "ci", "environment": "prod", "capability": "read"}"#)
            .is_err()
    );
    assert!(
        parse::<CreateKey>(r#"{"name": "ci", "environment": "live", "capability": "all"}"#)
            .is_err()
    );
    assert!(parse::<CreateKey>(r#"{"environment": "live", "capability": "read"}"#).is_err());
    assert!(parse::<Rotate>(r#"{"grace_seconds": -1}"#).is_err());
    assert_eq!(
        parse::<ChangeRole>(r#"{"role": "owner"}"#).unwrap().role,
        Role::Owner
    );
    assert_eq!(parse::<OwnerKey>("{}").unwrap().name, None);
}

#[test]
fn a_role_override_tells_absent_from_null() {
    assert_eq!(parse::<SetRole>("{}").unwrap().role, RoleChange::Missing);
    assert_eq!(
        parse::<SetRole>(r#"{"role": null}"#).unwrap().role,
        RoleChange::Clear
    );
    assert_eq!(
        parse::<SetRole>(r#"{"role": "admin"}"#).unwrap().role,
        RoleChange::Set(Role::Admin)
    );
    assert!(parse::<SetRole>(r#"{"role": "god"}"#).is_err());
}

#[test]
fn optional_fields_may_be_left_out() {
    let p: PatchProject = parse(r#"{"auto_approve_grants": true}"#).unwrap();
    assert_eq!(
        (p.name, p.reconcile_every_minutes, p.auto_approve_grants),
        (None, None, Some(true))
    );
    let p: CreateProject = parse(r#"{"name": "p"}"#).unwrap();
    assert_eq!(p.environment, None);
    let s: PutStripe = parse(r#"{"api_key": "sk_test_x"}"#).unwrap();
    assert_eq!(s.webhook_secrets, None);
    let s: PutStripe = parse(r#"{"api_key": "sk_test_x", "webhook_secrets": []}"#).unwrap();
    assert_eq!(s.webhook_secrets, Some(Vec::new()));
    let d: PutDatabase = parse(r#"{"read_url": "postgres://h/d"}"#).unwrap();
    assert_eq!(
        (d.read_url.as_str(), d.repair_url),
        ("postgres://h/d", None)
    );
}
