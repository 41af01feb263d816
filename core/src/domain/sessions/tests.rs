use super::*;
use crate::domain::ports::{FakeRng, OsRng};

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

#[test]
fn secrets_are_random_of_one_shape_and_stored_only_as_hashes() {
    let a = Secret::generate(&mut OsRng).unwrap();
    let b = Secret::generate(&mut OsRng).unwrap();
    assert_ne!(a, b);
    assert_eq!(a.expose().len(), 43);
    assert_eq!(Secret::parse(a.expose()), Some(a.clone()));
    assert_eq!(a.hash().len(), 64);
    assert!(!a.hash().contains(a.expose()));
    assert_ne!(a.hash(), b.hash());
    assert_eq!(format!("{a:?}"), "Secret(…)");
    for bad in [
        "",
        "short",
        &"a".repeat(44),
        &format!("{}!", &"a".repeat(42)),
    ] {
        assert_eq!(Secret::parse(bad), None, "{bad}");
    }
}

#[test]
fn the_csrf_token_is_bound_to_its_session() {
    let a = Secret::generate(&mut FakeRng(1)).unwrap();
    let b = Secret::generate(&mut FakeRng(2)).unwrap();
    assert_eq!(a.csrf(), a.csrf());
    assert_ne!(a.csrf(), b.csrf());
    assert_ne!(a.csrf(), a.hash());
    assert!(a.csrf_matches(Some(&a.csrf())));
    assert!(!a.csrf_matches(Some(&b.csrf())));
    assert!(!a.csrf_matches(Some("")));
    assert!(!a.csrf_matches(None));
    assert!(!a.csrf().contains(a.expose()));
}

#[test]
fn a_session_ends_when_idle_for_30_minutes_or_12_hours_after_sign_in() {
    let life = Lifetime {
        created_at: t(0),
        last_seen_at: t(0),
    };
    assert_eq!(life.check(t(IDLE_MS - 1)), Ok(()));
    assert_eq!(life.check(t(IDLE_MS)), Err(Ended::Idle));
    let busy = Lifetime {
        created_at: t(0),
        last_seen_at: t(ABSOLUTE_MS - 1000),
    };
    assert_eq!(busy.check(t(ABSOLUTE_MS - 1)), Ok(()));
    assert_eq!(busy.check(t(ABSOLUTE_MS)), Err(Ended::Absolute));
    assert_eq!(busy.expires_at(), t(ABSOLUTE_MS));
    assert_eq!(
        busy.idle_expires_at(),
        t(ABSOLUTE_MS),
        "never past the absolute end"
    );
    assert_eq!(life.idle_expires_at(), t(IDLE_MS));
    assert!(!life.needs_touch(t(TOUCH_MS - 1)));
    assert!(life.needs_touch(t(TOUCH_MS)));
}

#[test]
fn a_demoted_member_loses_the_session() {
    assert!(demoted(Role::Admin, Role::Member));
    assert!(demoted(Role::Owner, Role::Admin));
    assert!(!demoted(Role::Admin, Role::Admin));
    assert!(!demoted(Role::Admin, Role::Owner));
}

#[test]
fn the_cookie_is_host_only_http_only_secure_and_strict() {
    let s = Secret::generate(&mut OsRng).unwrap();
    let c = set_cookie(&s);
    assert!(c.starts_with(&format!("__Host-pr_session={};", s.expose())));
    for part in [
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=43200",
    ] {
        assert!(c.contains(part), "{c}");
    }
    assert!(!c.contains("Domain"));
    assert!(clear_cookie().contains("Max-Age=0"));
    let header = format!("a=b; __Host-pr_session={}; c=d", s.expose());
    assert_eq!(from_cookie_header(&header), Some(s.clone()));
    assert_eq!(from_cookie_header("a=b"), None);
    assert_eq!(from_cookie_header("__Host-pr_session=<script>"), None);
    assert_eq!(
        from_cookie_header("pr_session=x; __Host-pr_session_x=y"),
        None
    );
    let twice = format!("__Host-pr_session={0}; __Host-pr_session={0}", s.expose());
    assert_eq!(
        from_cookie_header(&twice),
        None,
        "two session cookies are refused"
    );
}

#[test]
fn only_the_sites_own_origin_passes() {
    let url = "http://127.0.0.1:8787/v1/session";
    assert_eq!(origin_of(url).as_deref(), Some("http://127.0.0.1:8787"));
    assert!(same_origin(Some("http://127.0.0.1:8787"), url));
    assert!(!same_origin(Some("http://127.0.0.1:8788"), url));
    assert!(!same_origin(Some("http://localhost:8787"), url));
    assert!(!same_origin(Some("null"), url));
    assert!(!same_origin(Some("http://127.0.0.1:8787/"), url));
    assert!(!same_origin(None, url));
    assert!(same_origin(
        Some("https://app.example.com"),
        "https://app.example.com/v1/x"
    ));
    assert!(!same_origin(
        Some("https://app.example.com.evil.test"),
        "https://app.example.com/v1/x"
    ));
    assert_eq!(
        origin_of("HTTPS://App.Example.com:8443/x?y#z").as_deref(),
        Some("https://app.example.com:8443")
    );
    assert_eq!(
        origin_of("https://user:pw@app.example.com/").as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(
        origin_of("http://[::1]:8787/v1").as_deref(),
        Some("http://[::1]:8787")
    );
    assert_eq!(origin_of("/v1/session"), None);
    assert_eq!(origin_of("javascript://alert(1)"), None);
    assert_eq!(origin_of("http:///x"), None);
    assert_eq!(origin_of("http://a b/"), None);
    assert!(is_unsafe("POST") && is_unsafe("DELETE") && is_unsafe("PATCH") && is_unsafe("PUT"));
    assert!(!is_unsafe("GET") && !is_unsafe("HEAD"));
}

#[test]
fn links_carry_the_token_in_the_fragment_only() {
    let s = Secret::generate(&mut FakeRng(3)).unwrap();
    let url = link_url("https://app.example.com", &s);
    assert_eq!(
        url,
        format!("https://app.example.com/signin/email#token={}", s.expose())
    );
    let m = sign_in_mail("a@b.test", &[("Acme".to_owned(), url.clone())]);
    assert!(m.text.contains(&url) && m.text.contains("Acme") && m.to == "a@b.test");
    let m = step_up_mail("a@b.test", "Acme", &url);
    assert!(m.text.contains(&url) && m.subject.contains("Confirm"));
    assert_eq!(LinkPurpose::parse("step_up"), Some(LinkPurpose::StepUp));
    assert_eq!(
        LinkPurpose::parse(LinkPurpose::SignIn.as_str()),
        Some(LinkPurpose::SignIn)
    );
    assert_eq!(Via::parse("email"), Some(Via::Email));
    assert_eq!(Via::parse("cookie"), None);
}

#[test]
fn a_sign_in_link_is_bound_to_the_asking_browser_by_a_host_cookie() {
    let n = Secret::generate(&mut OsRng).unwrap();
    let c = set_nonce_cookie(&n);
    assert!(c.starts_with(&format!("__Host-pr_signin={};", n.expose())));
    for part in [
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=600",
    ] {
        assert!(c.contains(part), "{c}");
    }
    let header = format!("__Host-pr_session=x; __Host-pr_signin={}", n.expose());
    assert_eq!(named_cookie(&header, NONCE_COOKIE), Some(n));
    assert_eq!(
        from_cookie_header(&header),
        None,
        "the session cookie is another cookie"
    );
}
