use super::*;
use serde_json::json;

pub fn sample() -> serde_json::Value {
    json!({
        "table": "public.accounts",
        "customer_column": "stripe_customer_id",
        "plan_column": "plan",
        "premium_column": "is_premium",
        "trial_column": "on_trial",
        "entitlements": {"sso": "feature_sso", "audit-log": "feature_audit"},
        "plans": {
            "price_pro": {"plan": "pro", "rank": 2, "entitlements": ["sso"]},
            "prod_team": {"plan": "team", "rank": 3},
            "price_basic": {"plan": "basic", "rank": 1},
            "price_plus": {"plan": "plus", "rank": 2}
        },
        "free_plan": "free",
        "grace": {"past_due": "keep", "unpaid": "revoke"}
    })
}

fn parse(v: serde_json::Value) -> Result<Mapping, InputError> {
    let input: MappingInput = serde_json::from_value(v).map_err(|_| InputError::InvalidJson)?;
    input.validate()
}

fn field_of(r: Result<Mapping, InputError>) -> String {
    match r {
        Err(InputError::InvalidField { field, .. }) => field,
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn a_valid_mapping_round_trips_through_its_json_with_every_grace_rule_spelled_out() {
    let m = parse(sample()).unwrap();
    assert_eq!(m.grace.rule("past_due"), GraceRule::Keep);
    assert_eq!(m.grace.rule("incomplete"), GraceRule::Keep);
    assert_eq!(m.grace.rule("trialing"), GraceRule::Trial);
    assert_eq!(m.grace.rule("canceled"), GraceRule::Revoke);
    assert_eq!(m.grace.rule("active"), GraceRule::Access);
    assert_eq!(m.grace.rule("some_future_status"), GraceRule::Keep);
    let j = m.to_json();
    assert_eq!(j["table"], "public.accounts");
    assert_eq!(j["grace"].as_object().map(|o| o.len()), Some(7));
    assert_eq!(Mapping::from_json(&j).unwrap(), m);
}

#[test]
fn the_repair_allowlist_is_exactly_the_plan_premium_trial_and_entitlement_columns() {
    let m = parse(sample()).unwrap();
    let cols: Vec<&str> = m.repair_columns().iter().map(|c| c.as_str()).collect();
    assert_eq!(
        cols,
        [
            "plan",
            "is_premium",
            "on_trial",
            "feature_audit",
            "feature_sso"
        ]
    );
    assert!(!cols.contains(&"stripe_customer_id"));
    let mut minimal = sample();
    for k in ["premium_column", "trial_column", "entitlements"] {
        minimal.as_object_mut().unwrap().remove(k);
    }
    minimal["plans"]["price_pro"]["entitlements"] = json!([]);
    let m = parse(minimal).unwrap();
    let cols: Vec<&str> = m.repair_columns().iter().map(|c| c.as_str()).collect();
    assert_eq!(cols, ["plan"]);
}

#[test]
fn bad_identifiers_are_refused_naming_the_field() {
    for (field, bad) in [
        ("table", "accounts; DROP TABLE x"),
        ("table", "a.b.c"),
        ("customer_column", "1abc"),
        ("plan_column", "plan\"--"),
        ("premium_column", ""),
        ("trial_column", &"x".repeat(64)),
    ] {
        let mut v = sample();
        v[field] = json!(bad);
        assert_eq!(field_of(parse(v)), field, "{bad}");
    }
    let mut v = sample();
    v["entitlements"]["sso"] = json!("feature sso");
    assert_eq!(field_of(parse(v)), "entitlements.sso");
}

#[test]
fn a_column_mapped_twice_is_refused() {
    let mut v = sample();
    v["trial_column"] = json!("plan");
    assert_eq!(field_of(parse(v)), "trial_column");
    let mut v = sample();
    v["entitlements"]["sso"] = json!("is_premium");
    assert_eq!(field_of(parse(v)), "entitlements.sso");
}

#[test]
fn plan_table_rules_name_the_entry_at_fault() {
    let cases = [
        ("plans.price_pro.rank", json!({"plan": "pro", "rank": 0})),
        (
            "plans.price_pro_yearly.rank",
            json!({"plan": "pro", "rank": 5}),
        ),
        ("plans.price_pro.plan", json!({"plan": "free", "rank": 2})),
        ("plans.price_pro.plan", json!({"plan": " pro", "rank": 2})),
        (
            "plans.price_pro.entitlements",
            json!({"plan": "pro", "rank": 2, "entitlements": ["unmapped"]}),
        ),
    ];
    for (field, entry) in cases {
        let mut v = sample();
        v["plans"]["price_pro"] = entry.clone();
        // Another entry of plan "pro" at rank 2: a different rank conflicts with it.
        v["plans"]["price_pro_yearly"] = json!({"plan": "pro", "rank": 2});
        assert_eq!(field_of(parse(v)), field, "{entry}");
    }
    let mut v = sample();
    v["plans"] = json!({});
    assert_eq!(field_of(parse(v)), "plans");
    let mut v = sample();
    v["plans"] = json!({"price with space": {"plan": "pro", "rank": 1}});
    assert_eq!(field_of(parse(v)), "plans");
}

#[test]
fn grace_rules_are_checked_per_status() {
    for (status, rule, ok) in [
        ("past_due", "access", true),
        ("unpaid", "keep", true),
        ("paused", "trial", false),
        ("trialing", "access", true),
        ("trialing", "trial", true),
        ("canceled", "access", false),
        ("incomplete_expired", "trial", false),
        ("canceled", "keep", true),
    ] {
        let mut v = sample();
        v["grace"] = json!({ status: rule });
        match parse(v) {
            Ok(m) => assert!(ok && m.grace.rule(status) != GraceRule::Revoke || rule == "revoke"),
            Err(InputError::InvalidField { field, .. }) => {
                assert!(!ok, "{status}: {rule}");
                assert_eq!(field, format!("grace.{status}"));
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    let mut v = sample();
    v["grace"] = json!({"active": "revoke"});
    assert_eq!(field_of(parse(v)), "grace");
    let mut v = sample();
    v["grace"] = json!({"past_due": "maybe"});
    assert!(parse(v).is_err());
}

#[test]
fn plan_ids_that_are_not_identifier_like_are_not_echoed_in_the_field() {
    let mut v = sample();
    v["plans"] = json!({"price-<script>": {"plan": "pro", "rank": 0}});
    assert_eq!(field_of(parse(v)), "body");
}

#[test]
fn ranks_come_from_the_plan_table_and_the_free_plan_is_zero() {
    let m = parse(sample()).unwrap();
    assert_eq!(m.rank_of("free"), Some(0));
    assert_eq!(m.rank_of("team"), Some(3));
    assert_eq!(m.rank_of("legacy"), None);
}

fn cols(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn the_live_table_check_names_every_column_that_does_not_fit() {
    let m = parse(sample()).unwrap();
    let good = cols(&[
        ("id", "integer"),
        ("stripe_customer_id", "text"),
        ("plan", "character varying"),
        ("is_premium", "boolean"),
        ("on_trial", "boolean"),
        ("feature_sso", "boolean"),
        ("feature_audit", "boolean"),
    ]);
    assert_eq!(m.check_columns(&good), Ok(()));
    let bad = cols(&[
        ("stripe_customer_id", "text"),
        ("plan", "integer"),
        ("is_premium", "boolean"),
        ("feature_sso", "text"),
        ("feature_audit", "boolean"),
    ]);
    let problems = m.check_columns(&bad).unwrap_err();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["plan_column", "trial_column", "entitlements.sso"]);
    assert_eq!(
        problems[0].message,
        "column plan is integer; it must be text (text or varchar)"
    );
    assert_eq!(
        problems[1].message,
        "column on_trial does not exist in table public.accounts"
    );
    let none = m.check_columns(&[]).unwrap_err();
    assert_eq!(none[0].field, "table");
}

#[test]
fn system_catalogs_are_not_app_tables() {
    for t in [
        "pg_catalog.pg_authid",
        "pg_user",
        "information_schema.tables",
        "pg_toast.x",
    ] {
        let mut v = sample();
        v["table"] = serde_json::json!(t);
        assert_eq!(field_of(parse(v)), "table", "{t}");
    }
    let mut v = sample();
    v["table"] = serde_json::json!("app.pgusers");
    assert!(parse(v).is_ok());
}
