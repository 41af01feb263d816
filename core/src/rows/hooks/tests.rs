use super::*;

fn endpoint(id: &str, events: &[&str], from_seq: i64) -> EndpointRow {
    let events: Vec<String> = events.iter().map(|s| s.to_string()).collect();
    let mut e = EndpointRow::new(
        id.into(),
        "https://hooks.example.com/x".into(),
        String::new(),
        &events,
        "sealed:current".into(),
        Timestamp::from_millis(0),
    );
    e.from_seq = from_seq;
    e
}

fn entry(seq: u64, action: &str) -> AuditEntry {
    AuditEntry {
        seq,
        at: "2026-12-01T00:00:00.000Z".into(),
        actor: "system:cron".into(),
        action: action.into(),
        target: format!("incident:inc_{seq}"),
        before: Value::Null,
        after: json!({"id": format!("inc_{seq}")}),
        prev_hash: String::new(),
        hash: String::new(),
    }
}

#[test]
fn a_page_of_entries_makes_one_event_per_event_entry_for_the_endpoints_that_want_it() {
    let eps = vec![
        endpoint("whe_all", &["*"], 0),
        endpoint("whe_late", &["*"], 2),
        endpoint("whe_repairs", &["repair.*"], 0),
        {
            let mut e = endpoint("whe_off", &["*"], 0);
            e.status = "disabled".into();
            e
        },
    ];
    let entries = vec![
        entry(1, "incident.opened"),
        entry(2, "key.created"),
        entry(3, "incident.updated"),
        entry(4, "incident.resolved"),
    ];
    let mut n = 0;
    let (made, covered) = fan_out("prj_1", &entries, &eps, 100, |p| {
        n += 1;
        format!("{p}_{n}")
    });
    assert_eq!(covered, Some(4));
    // Only the event types: opened (seq 1) and resolved (seq 4).
    assert_eq!(made.len(), 2);
    assert_eq!(
        (made[0].0.seq, made[0].0.ty.as_str()),
        (1, "incident.opened")
    );
    assert_eq!(made[0].1, vec!["whe_all"]);
    assert_eq!(
        (made[1].0.seq, made[1].0.ty.as_str()),
        (4, "incident.resolved")
    );
    assert_eq!(made[1].1, vec!["whe_all", "whe_late"]);
    assert_eq!(made[0].0.id, "evt_1");
    let body: Value = serde_json::from_str(&made[1].0.payload).unwrap();
    assert_eq!(body["data"]["incident"]["id"], "inc_4");
    // An event no endpoint takes is not stored; the cursor still passes it.
    let (none, covered) = fan_out("prj_1", &entries[..1], &eps[2..], 100, |p| p.to_owned());
    assert!(none.is_empty());
    assert_eq!(covered, Some(1));
    // A budget of rows: the walk stops before the event that would pass it, and the cursor
    // stays before that event (seq 4 is walked next time).
    let (some, covered) = fan_out("prj_1", &entries, &eps, 3, |p| p.to_owned());
    assert_eq!(some.len(), 1);
    assert_eq!(covered, Some(3));
}

#[test]
fn a_send_answered_2xx_delivers_and_ends_the_run_of_failures() {
    let ep = endpoint("whe_1", &["*"], 0);
    let d = DeliveryRow::new(
        "dlv_1".into(),
        "whe_1",
        &EventRow {
            id: "evt_1".into(),
            seq: 1,
            ty: "incident.opened".into(),
            payload: "{}".into(),
        },
        Timestamp::from_millis(0),
    );
    let s = sent(
        &d,
        &ep,
        Some(204),
        None,
        12,
        Timestamp::from_millis(1_000),
        0,
        1_000_000,
    );
    assert_eq!(s.delivery.status, "delivered");
    assert_eq!(s.delivery.attempts, 1);
    assert_eq!(
        s.attempt,
        AttemptRow {
            delivery_id: "dlv_1".into(),
            n: 1,
            at: "1970-01-01T00:00:01.000Z".into(),
            status: Some(204),
            error: None,
            duration_ms: 12
        }
    );
    assert!(!s.failed && s.disable.is_none());
}

#[test]
fn a_failed_send_is_retried_later_and_410_or_a_day_of_failures_disables() {
    let mut ep = endpoint("whe_1", &["*"], 0);
    let ev = EventRow {
        id: "evt_1".into(),
        seq: 1,
        ty: "incident.opened".into(),
        payload: "{}".into(),
    };
    let d = DeliveryRow::new("dlv_1".into(), "whe_1", &ev, Timestamp::from_millis(0));
    let now = Timestamp::from_millis(10_000);
    let s = sent(&d, &ep, Some(500), None, 5, now, 0, 1_000_000);
    assert_eq!(s.delivery.status, "pending");
    // 5 s less 10% jitter.
    assert_eq!(
        s.delivery.next_attempt_at,
        Timestamp::from_millis(14_500).to_rfc3339()
    );
    assert_eq!(s.delivery.last_status, Some(500));
    assert!(s.failed && s.disable.is_none());
    let s = sent(
        &d,
        &ep,
        None,
        Some("no answer".into()),
        10_000,
        now,
        0,
        1_000_000,
    );
    assert_eq!(
        (s.attempt.status, s.attempt.error.as_deref()),
        (None, Some("no answer"))
    );
    let gone = sent(&d, &ep, Some(410), None, 5, now, 0, 1_000_000);
    assert_eq!(gone.delivery.status, "failed");
    assert!(gone.disable.unwrap().contains("410"));
    // Failing since a day ago: disabled now.
    ep.failing_since = Some(Timestamp::from_millis(10_000 - 86_400_000).to_rfc3339());
    let s = sent(&d, &ep, Some(503), None, 5, now, 0, 1_000_000);
    assert_eq!(s.disable.as_deref(), Some("every send failed for 24 hours"));
    // The eighth send is the last.
    let mut last = d.clone();
    last.attempts = 7;
    ep.failing_since = None;
    assert_eq!(
        sent(&last, &ep, Some(503), None, 5, now, 0, 1_000_000)
            .delivery
            .status,
        "failed"
    );
}

#[test]
fn patches_toggle_and_rotations_keep_the_old_secret_for_the_grace() {
    let ep = endpoint("whe_1", &["*"], 0);
    let now = Timestamp::from_millis(5_000);
    let (off, t) = ep.patched(
        &Patch {
            enabled: Some(false),
            ..Patch::default()
        },
        now,
    );
    assert_eq!((t, off.status.as_str()), (Toggle::Disabled, "disabled"));
    let mut failing = off.clone();
    failing.failing_since = Some("x".into());
    let (on, t) = failing.patched(
        &Patch {
            enabled: Some(true),
            url: Some("https://b.example/".into()),
            ..Patch::default()
        },
        now,
    );
    assert_eq!(
        (
            t,
            on.status.as_str(),
            on.failing_since.clone(),
            on.disabled_reason.clone()
        ),
        (Toggle::Enabled, "enabled", None, None)
    );
    assert_eq!(on.url, "https://b.example/");
    assert_eq!(
        ep.patched(
            &Patch {
                enabled: Some(true),
                ..Patch::default()
            },
            now
        )
        .1,
        Toggle::None
    );

    let r = ep.rotated("sealed:new".into(), 60, now);
    assert_eq!(r.sealed_secrets(now), vec!["sealed:new", "sealed:current"]);
    assert_eq!(r.sealed_secrets(now.plus_seconds(61)), vec!["sealed:new"]);
    let r0 = ep.rotated("sealed:new".into(), 0, now);
    assert_eq!(r0.sealed_secrets(now), vec!["sealed:new"]);
    // No view shows a sealed secret.
    let v = r.view("prj_1").to_string();
    assert!(!v.contains("sealed:") && v.contains("previous_secret_valid_until"));
}

#[test]
fn each_route_takes_only_its_fields() {
    assert!(Body::parse(b"", &["grace_seconds"]).is_ok());
    assert_eq!(
        Body::parse(br#"{"grace_seconds": 5}"#, &["grace_seconds"])
            .unwrap()
            .grace()
            .unwrap(),
        5
    );
    let e = Body::parse(br#"{"url": "https://x.example/"}"#, &["grace_seconds"]).unwrap_err();
    assert!(matches!(e, InputError::InvalidField { ref field, .. } if field == "body"));
    assert!(Body::parse(br#"{"secret": "whsec_x"}"#, &["url"]).is_err());
    assert!(
        Body::parse(br#"{"grace_seconds": 604801}"#, &["grace_seconds"])
            .unwrap()
            .grace()
            .is_err()
    );
    assert_eq!(Body::parse(b"{}", &[]).unwrap().grace().unwrap(), 86_400);
}

#[test]
fn a_send_is_signed_with_every_secret_given() {
    let ev = EventRow {
        id: "evt_1".into(),
        seq: 1,
        ty: "incident.opened".into(),
        payload: "{}".into(),
    };
    let a = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let h = headers(&ev, 1_614_265_330, &[a, a]);
    assert_eq!(h[2], ("webhook-id", "evt_1".to_owned()));
    assert_eq!(h[3], ("webhook-timestamp", "1614265330".to_owned()));
    assert_eq!(h[4].1.split(' ').count(), 2);
}

#[test]
fn a_send_opens_the_sealed_secrets_and_leaves_out_an_old_one_that_no_longer_opens() {
    use crate::domain::hooks::sign;
    use crate::domain::ports::FakeRng;
    use crate::domain::vault::Keyring;
    let k1 = Keyring::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    let b = secret_binding("org_1", "prj_1", "whe_1");
    let (a, n) = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    );
    let ep = endpoint("whe_1", &["*"], 0);
    let ep = EndpointRow {
        secret_sealed: k1.seal(&b, a, &mut FakeRng(1)).unwrap(),
        ..ep
    };
    let now = Timestamp::from_millis(1_614_265_330_000);
    let rotated = ep.rotated(k1.seal(&b, n, &mut FakeRng(2)).unwrap(), 60, now);
    let ev = EventRow {
        id: "msg_p5jXN8AQM9LWM0D4loKWxJek".into(),
        seq: 1,
        ty: "incident.opened".into(),
        payload: r#"{"test": 2432232314}"#.into(),
    };
    let h = signed_headers(&k1, "org_1", "prj_1", &rotated, &ev, now).unwrap();
    let want = format!(
        "{} {}",
        sign(n, &ev.id, 1_614_265_330, &ev.payload).unwrap(),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
    assert_eq!(h[4].1, want);
    // Bound to its endpoint: another endpoint's binding opens nothing.
    assert!(signed_headers(
        &k1,
        "org_1",
        "prj_1",
        &EndpointRow {
            id: "whe_2".into(),
            ..rotated.clone()
        },
        &ev,
        now
    )
    .is_err());
    // The old secret sealed under a retired key: left out, the current one still signs.
    let k2 = Keyring::parse("k2:HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=").unwrap();
    let mixed = EndpointRow {
        secret_sealed: k1.seal(&b, n, &mut FakeRng(3)).unwrap(),
        old_secret_sealed: Some(k2.seal(&b, a, &mut FakeRng(4)).unwrap()),
        ..rotated
    };
    let h = signed_headers(&k1, "org_1", "prj_1", &mixed, &ev, now).unwrap();
    assert_eq!(h[4].1, sign(n, &ev.id, 1_614_265_330, &ev.payload).unwrap());
}
