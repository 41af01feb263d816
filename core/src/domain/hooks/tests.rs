use super::*;
use crate::domain::ports::FakeRng;

#[test]
fn signs_the_standard_webhooks_test_vector() {
    // The specification's own example (secret, message id, timestamp, body → signature).
    let sig = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        r#"{"test": 2432232314}"#,
    );
    assert_eq!(
        sig.as_deref(),
        Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    );
    // Any change of id, time or body changes it; a secret that is not `whsec_…` signs nothing.
    assert_ne!(
        sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_x",
            1_614_265_330,
            "{}"
        ),
        sig
    );
    assert_eq!(sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, "{}"), None);
    assert_eq!(sign("whsec_not base64!", "m", 1, "{}"), None);
}

#[test]
fn a_rotation_signs_with_both_secrets() {
    let a = new_secret(&mut FakeRng(1)).unwrap();
    let b = new_secret(&mut FakeRng(2)).unwrap();
    assert!(a.starts_with("whsec_") && a.len() == 6 + 44 && a != b);
    let h = signature_header(&[&b, &a], "evt_1", 10, "{}");
    let parts: Vec<&str> = h.split(' ').collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(Some(parts[0]), sign(&b, "evt_1", 10, "{}").as_deref());
    assert_eq!(Some(parts[1]), sign(&a, "evt_1", 10, "{}").as_deref());
}

#[test]
fn only_incident_and_repair_changes_are_events_and_filters_select_them() {
    assert!(is_event("incident.opened") && is_event("repair.verified"));
    assert!(!is_event("incident.updated") && !is_event("key.created") && !is_event("alert.sent"));
    let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(subscribed(&f(&["*"]), "repair.failed"));
    assert!(subscribed(&f(&["incident.*"]), "incident.resolved"));
    assert!(!subscribed(&f(&["incident.*"]), "repair.created"));
    assert!(subscribed(
        &f(&["repair.created", "incident.opened"]),
        "incident.opened"
    ));
    assert!(!subscribed(&f(&["incident.opened"]), "incident.ignored"));
}

#[test]
fn subscriptions_are_validated() {
    assert_eq!(parse_events(None).unwrap(), vec!["*"]);
    let given = vec![
        "repair.*".to_owned(),
        "incident.opened".into(),
        "repair.*".into(),
    ];
    assert_eq!(
        parse_events(Some(&given)).unwrap(),
        vec!["incident.opened", "repair.*"]
    );
    for bad in [
        vec![],
        vec!["incident.updated".to_owned()],
        vec!["*.*".into()],
        vec!["x".into(); 21],
    ] {
        let e = parse_events(Some(&bad)).unwrap_err();
        assert!(
            matches!(e, InputError::InvalidField { ref field, .. } if field == "events"),
            "{bad:?}"
        );
    }
    assert!(parse_description("nightly sync").is_ok());
    assert!(parse_description("a\nb").is_err());
    assert!(parse_description(&"x".repeat(201)).is_err());
}

#[test]
fn live_projects_register_only_public_https_urls() {
    for ok in [
        "https://hooks.example.com/parityrail",
        "https://93.184.216.34/x",
        "https://[2606:4700::1111]/x",
        "https://[2002:5db8:d822::1]/x",
        "https://example.com:8443/a?b=c",
    ] {
        assert!(endpoint_url(ok, true).is_ok(), "{ok}");
    }
    for bad in [
        "http://hooks.example.com/x",
        "ftp://example.com/",
        "https://127.0.0.1/x",
        "https://0x7f.1/x",
        "https://2130706433/x",
        "https://10.1.2.3/",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://[::1]/",
        "https://[fe80::1]/",
        "https://[fd00::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://[64:ff9b::a00:1]/",
        "https://[::ffff:0:a00:1]/",
        "https://[2002:a00:1::1]/",
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        "https://[64:ff9b:1::1]/",
        "https://[100::1]/",
        "https://localhost/",
        "https://api.localhost/",
        "https://printer.local/",
        "https://metadata.google.internal/",
        "https://intranet/",
        "https://user:pass@example.com/",
        "https://example.com/#frag",
        "not a url",
        "/relative",
    ] {
        let e = endpoint_url(bad, true).unwrap_err();
        assert!(
            matches!(e, InputError::InvalidField { ref field, .. } if field == "url"),
            "{bad}"
        );
    }
    assert!(endpoint_url(&format!("https://example.com/{}", "a".repeat(2048)), true).is_err());
    // A test project may point at a local receiver, never with credentials in the URL.
    assert!(endpoint_url("http://127.0.0.1:9000/hook", false).is_ok());
    assert!(endpoint_url("http://u:p@127.0.0.1:9000/hook", false).is_err());
    assert!(endpoint_url("file:///etc/passwd", false).is_err());
}

#[test]
fn the_payload_names_the_type_the_project_and_the_object_as_changed() {
    let after = json!({"id": "inc_1", "status": "open"});
    let body = payload(
        "incident.opened",
        "2026-12-01T00:00:00.000Z",
        "prj_1",
        7,
        "incident:inc_1",
        &Value::Null,
        &after,
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["type"], "incident.opened");
    assert_eq!(v["timestamp"], "2026-12-01T00:00:00.000Z");
    assert_eq!(v["data"]["project_id"], "prj_1");
    assert_eq!(v["data"]["audit_seq"], 7);
    assert_eq!(v["data"]["incident"], after);
    let gone = payload(
        "repair.stale",
        "t",
        "prj_1",
        8,
        "repair:rep_1",
        &after,
        &Value::Null,
    );
    let v: Value = serde_json::from_str(&gone).unwrap();
    assert_eq!(v["data"]["repair"], after);
}

#[test]
fn retries_back_off_with_jitter_over_more_than_a_day_then_fail() {
    assert_eq!(outcome(Some(200), 1, 0, 1_000_000), Outcome::Delivered);
    assert_eq!(outcome(Some(204), 8, 0, 1_000_000), Outcome::Delivered);
    assert_eq!(outcome(Some(410), 1, 0, 1_000_000), Outcome::Gone);
    // Every other answer, and none, is retried while the schedule lasts.
    for s in [
        None,
        Some(301),
        Some(400),
        Some(404),
        Some(429),
        Some(500),
        Some(503),
    ] {
        assert!(
            matches!(outcome(s, 1, 128, 1_000_000), Outcome::Retry(_)),
            "{s:?}"
        );
        assert_eq!(
            outcome(s, MAX_ATTEMPTS, 128, 1_000_000),
            Outcome::Failed,
            "{s:?}"
        );
    }
    let total = |jitter: u8| -> u64 {
        (1..MAX_ATTEMPTS)
            .map(|n| match outcome(Some(500), n, jitter, 1_000_000) {
                Outcome::Retry(us) => us,
                o => panic!("{o:?}"),
            })
            .sum()
    };
    let day_us = 86_400_000_000u64;
    assert!(total(0) >= day_us, "shortest jitter: {}", total(0));
    assert!(total(255) <= day_us * 12 / 10 + day_us / 5);
    // The jitter spreads a wait within ±10% of its nominal value.
    let first = |j| match outcome(None, 2, j, 1_000_000) {
        Outcome::Retry(us) => us,
        o => panic!("{o:?}"),
    };
    assert_eq!(first(0), 270_000_000);
    assert_eq!(first(255), 330_000_000);
    assert!(first(0) < first(128) && first(128) < first(255));
    // A shorter unit (tests) shortens every wait alike.
    assert_eq!(outcome(None, 1, 0, 100), Outcome::Retry(450));
}

#[test]
fn an_endpoint_failing_for_a_day_is_disabled() {
    let day_ms = 86_400_000;
    assert!(!disable_due(0, day_ms - 1, 1_000_000));
    assert!(disable_due(0, day_ms, 1_000_000));
    assert!(disable_due(1_000, 1_000 + 8_640, 100));
    assert!(!disable_due(1_000, 1_000 + 8_639, 100));
}
