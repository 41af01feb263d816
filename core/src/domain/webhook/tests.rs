use super::*;
use proptest::prelude::*;

// Computed with the official `stripe` Python library (12.5.1):
// stripe.WebhookSignature._compute_signature("%d.%s" % (T, PAYLOAD), SECRET)
const PAYLOAD: &str = r#"{"id":"evt_kat","object":"event","type":"customer.subscription.deleted","created":1764633600,"data":{"object":{"id":"sub_1","customer":"cus_kat"}}}"#;
const SECRET: &str = "whsec_parityrail_known_answer_secret";
const T: i64 = 1_764_633_600;
const SIG: &str = "9ec8c1a9b05c8f618f7ed1a6282ed628911301609cdaaeb5283394d6ae8058da";

fn hex(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn the_signature_matches_the_official_library() {
    assert_eq!(hex(&sign(SECRET.as_bytes(), T, PAYLOAD.as_bytes())), SIG);
    let header = format!("t={T},v1={SIG}");
    assert_eq!(
        verify(&header, PAYLOAD.as_bytes(), &[SECRET.as_bytes()], T + 10),
        Ok(T)
    );
}

#[test]
fn every_verification_signs_under_two_slots_whatever_the_project_has() {
    let (a, b, c): (&[u8], &[u8], &[u8]) = (b"whsec_a", b"whsec_b", b"whsec_c");
    let count = |s: &[&[u8]]| slots(s).count();
    let real = |s: &[&[u8]]| slots(s).filter(|(_, r)| *r).count();
    // No project (an unknown id), no secret, one, two: the same two HMACs over the body.
    assert_eq!(count(&[]), SECRET_SLOTS);
    assert_eq!(count(&[a]), SECRET_SLOTS);
    assert_eq!(count(&[a, b]), SECRET_SLOTS);
    assert_eq!((real(&[]), real(&[a]), real(&[a, b])), (0, 1, 2));
    // More than the slots is never stored (`check_webhook_secrets`), and would all be used.
    assert_eq!(count(&[a, b, c]), 3);
}

#[test]
fn a_stand_in_slot_never_verifies_a_delivery() {
    // Signed with the stand-in's key, which is no secret: refused with and without secrets.
    let sig = hex(&sign(STAND_IN, T, PAYLOAD.as_bytes()));
    let header = format!("t={T},v1={sig}");
    assert_eq!(
        verify(&header, PAYLOAD.as_bytes(), &[], T),
        Err(Rejected::NoSecret)
    );
    assert_eq!(
        verify(&header, PAYLOAD.as_bytes(), &[SECRET.as_bytes()], T),
        Err(Rejected::Mismatch)
    );
}

#[test]
fn any_v1_against_any_secret_is_enough_and_v0_is_ignored() {
    let other = "f".repeat(64);
    let header = format!("t={T},v0={other},v1={other},v1={SIG}");
    let secrets: [&[u8]; 2] = [b"whsec_old_one_rotating", SECRET.as_bytes()];
    assert_eq!(verify(&header, PAYLOAD.as_bytes(), &secrets, T), Ok(T));
}

#[test]
fn every_failure_is_refused() {
    let good = format!("t={T},v1={SIG}");
    let body = PAYLOAD.as_bytes();
    let s: [&[u8]; 1] = [SECRET.as_bytes()];
    // Tampered body, wrong secret, no secret.
    assert_eq!(
        verify(&good, &[body, b" "].concat(), &s, T),
        Err(Rejected::Mismatch)
    );
    assert_eq!(
        verify(&good, body, &[b"whsec_wrong".as_slice()], T),
        Err(Rejected::Mismatch)
    );
    assert_eq!(verify(&good, body, &[], T), Err(Rejected::NoSecret));
    // 300 s either way, not one more.
    assert_eq!(verify(&good, body, &s, T + 300), Ok(T));
    assert_eq!(verify(&good, body, &s, T - 300), Ok(T));
    assert_eq!(verify(&good, body, &s, T + 301), Err(Rejected::Stale));
    assert_eq!(verify(&good, body, &s, T - 301), Err(Rejected::Stale));
    // Malformed headers.
    for h in [
        "",
        "t=",
        &format!("v1={SIG}"),
        &format!("t={T}"),
        &format!("t={T},t={T},v1={SIG}"),
        &format!("t=-{T},v1={SIG}"),
        &format!("t={T},v1={}", &SIG[..63]),
        &format!("t={T},v1={}g", &SIG[..63]),
        &format!("t={T};v1={SIG}"),
        "garbage",
    ] {
        assert_eq!(verify(h, body, &s, T), Err(Rejected::Malformed), "{h}");
    }
}

#[test]
fn event_facts_take_the_customer_from_where_each_type_keeps_it() {
    let f = event_facts(PAYLOAD.as_bytes()).unwrap();
    assert_eq!(f.id, "evt_kat");
    assert_eq!(f.kind, "customer.subscription.deleted");
    assert_eq!(f.created, T);
    assert_eq!(f.customer.as_deref(), Some("cus_kat"));
    let c =
        br#"{"id":"evt_2","type":"customer.updated","created":1,"data":{"object":{"id":"cus_x"}}}"#;
    assert_eq!(event_facts(c).unwrap().customer.as_deref(), Some("cus_x"));
    let expanded = br#"{"id":"evt_3","type":"invoice.paid","created":1,"data":{"object":{"customer":{"id":"cus_y"}}}}"#;
    assert_eq!(
        event_facts(expanded).unwrap().customer.as_deref(),
        Some("cus_y")
    );
    let hostile = br#"{"id":"evt_4","type":"invoice.paid","created":1,"data":{"object":{"customer":"cus_../x"}}}"#;
    assert_eq!(event_facts(hostile).unwrap().customer, None);
    assert_eq!(
        event_facts(br#"{"id":"nope","type":"x","created":1}"#),
        None
    );
    assert_eq!(event_facts(b"not json"), None);
    assert!(triggers_check("customer.subscription.updated"));
    assert!(triggers_check(
        "entitlements.active_entitlement_summary.updated"
    ));
    assert!(triggers_check("invoice.payment_failed"));
    assert!(!triggers_check("charge.succeeded"));
    assert!(!triggers_check("product.created"));
}

proptest! {
    #[test]
    fn no_header_panics_the_parser(h in ".{0,300}") {
        let _ = parse_header(&h);
        let _ = verify(&h, b"{}", &[SECRET.as_bytes()], T);
    }

    #[test]
    fn structured_headers_never_panic_either(
        parts in prop::collection::vec(("[tv01x]{0,3}", "[0-9a-f=,-]{0,70}"), 0..8)
    ) {
        let h: Vec<String> = parts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = parse_header(&h.join(","));
    }

    #[test]
    fn a_signed_body_verifies_and_any_changed_byte_does_not(
        body in prop::collection::vec(any::<u8>(), 0..200),
        flip in any::<prop::sample::Index>(),
        t in 1_000_000_000i64..2_000_000_000,
    ) {
        let sig = hex(&sign(SECRET.as_bytes(), t, &body));
        let header = format!("t={t},v1={sig}");
        prop_assert_eq!(verify(&header, &body, &[SECRET.as_bytes()], t), Ok(t));
        if !body.is_empty() {
            let mut changed = body.clone();
            let i = flip.index(changed.len());
            changed[i] ^= 1;
            prop_assert_eq!(verify(&header, &changed, &[SECRET.as_bytes()], t), Err(Rejected::Mismatch));
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic_event_facts(body in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = event_facts(&body);
    }
}

#[test]
fn a_connect_accounts_event_names_no_customer_to_check() {
    let own = serde_json::json!({"id": "evt_1", "type": "customer.subscription.updated", "created": 1,
        "data": {"object": {"customer": "cus_A"}}});
    assert_eq!(facts_of(&own).unwrap().customer.as_deref(), Some("cus_A"));
    let mut connected = own.clone();
    connected["account"] = serde_json::json!("acct_123");
    assert_eq!(facts_of(&connected).unwrap().customer, None);
}

#[test]
fn a_failed_check_backs_off_from_ten_seconds_to_an_hour() {
    assert_eq!(retry_after_secs(false, 0), 10);
    assert_eq!(retry_after_secs(false, 1), 20);
    assert_eq!(retry_after_secs(false, 8), 2560);
    assert_eq!(retry_after_secs(false, 9), 3600);
    assert_eq!(retry_after_secs(false, i64::MAX), 3600);
    assert_eq!(retry_after_secs(false, -5), 10);
    assert_eq!(retry_after_secs(true, 0), 86_400);
}

proptest::proptest! {
    #[test]
    fn backoff_never_shrinks_and_stays_in_bounds(a in -100i64..1000, b in -100i64..1000) {
        let (lo, hi) = (a.min(b), a.max(b));
        proptest::prop_assert!(retry_after_secs(false, lo) <= retry_after_secs(false, hi));
        proptest::prop_assert!((10..=3600).contains(&retry_after_secs(false, a)));
        proptest::prop_assert!(retry_after_secs(true, a) > retry_after_secs(false, a));
    }
}
