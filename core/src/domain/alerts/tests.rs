use super::*;
use std::cell::RefCell;

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn item(n: u32, kind: &str) -> Item {
    Item {
        incident_id: format!("inc_{n}"),
        customer: format!("cus_{n}"),
        kind: kind.into(),
    }
}

#[derive(Default)]
struct Book {
    queued: RefCell<Vec<Item>>,
    running: RefCell<bool>,
    /// (digest, due at, status)
    digests: RefCell<Vec<(Digest, i64, &'static str)>>,
    audit: RefCell<Vec<String>>,
    to: Vec<String>,
}

impl AlertBook for Book {
    async fn due(&self, now: Timestamp) -> Fallible<Option<Digest>> {
        Ok(self
            .digests
            .borrow()
            .iter()
            .filter(|(_, at, s)| *s == "pending" && *at <= now.millis())
            .min_by_key(|(_, at, _)| *at)
            .map(|(d, _, _)| d.clone()))
    }
    async fn running(&self) -> Fallible<bool> {
        Ok(*self.running.borrow())
    }
    async fn open(&self, now: Timestamp) -> Fallible<Option<Digest>> {
        let mut q = self.queued.borrow_mut();
        if q.is_empty() {
            return Ok(None);
        }
        let take: Vec<Item> = q.drain(..).collect();
        let listed = &take[..take.len().min(MAX_PER_DIGEST)];
        let (subject, text) = compose(
            "Acme\r\nBcc: x@evil",
            "prj_1",
            "https://pr.example",
            listed,
            take.len(),
        );
        let d = Digest {
            id: format!("alt_{}", self.digests.borrow().len()),
            to: self.to.clone(),
            subject,
            text,
            incidents: take.len(),
            attempts: 0,
        };
        self.digests
            .borrow_mut()
            .push((d.clone(), now.millis(), "pending"));
        Ok(Some(d))
    }
    async fn sent(&self, d: &Digest, _: Timestamp) -> Fallible<()> {
        self.set(d, |e| e.2 = "sent");
        self.audit.borrow_mut().push(format!("alert.sent {}", d.id));
        Ok(())
    }
    async fn retry(&self, d: &Digest, at: Timestamp, _: &str) -> Fallible<()> {
        self.set(d, |e| {
            e.1 = at.millis();
            e.0.attempts += 1;
        });
        Ok(())
    }
    async fn failed(&self, d: &Digest, why: &str, _: Timestamp) -> Fallible<()> {
        self.set(d, |e| e.2 = "failed");
        self.audit
            .borrow_mut()
            .push(format!("alert.failed {} {why}", d.id));
        Ok(())
    }
    async fn next_due(&self) -> Fallible<Option<Timestamp>> {
        Ok(self
            .digests
            .borrow()
            .iter()
            .filter(|(_, _, s)| *s == "pending")
            .map(|(_, at, _)| t(*at))
            .min())
    }
}

impl Book {
    fn set(&self, d: &Digest, f: impl FnOnce(&mut (Digest, i64, &'static str))) {
        if let Some(e) = self
            .digests
            .borrow_mut()
            .iter_mut()
            .find(|e| e.0.id == d.id)
        {
            f(e);
        }
    }
}

/// Answers each send with the next of `answers` (then 200), and records what it sent.
struct Resend {
    answers: RefCell<Vec<(Option<u16>, Option<String>)>>,
    sent: RefCell<Vec<(String, usize)>>,
}

impl Resend {
    fn answering(answers: Vec<(Option<u16>, Option<&str>)>) -> Self {
        Resend {
            answers: RefCell::new(
                answers
                    .into_iter()
                    .rev()
                    .map(|(s, r)| (s, r.map(str::to_owned)))
                    .collect(),
            ),
            sent: RefCell::new(vec![]),
        }
    }
}

impl Mailer for Resend {
    async fn send(&self, d: &Digest) -> (Option<u16>, Option<String>) {
        self.sent.borrow_mut().push((d.id.clone(), d.incidents));
        self.answers.borrow_mut().pop().unwrap_or((Some(200), None))
    }
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    crate::domain::test_support::block_on(f)
}

fn book(n: u32) -> Book {
    Book {
        queued: RefCell::new((0..n).map(|i| item(i, "missing_access")).collect()),
        to: vec!["ops@acme.test".into()],
        ..Book::default()
    }
}

#[test]
fn a_burst_is_one_digest_and_nothing_goes_while_a_run_is_going() {
    let b = book(120);
    *b.running.borrow_mut() = true;
    let r = Resend::answering(vec![]);
    assert_eq!(block(drain(&b, &r, t(0), RETRY_BASE_MS)).unwrap(), None);
    assert!(r.sent.borrow().is_empty());
    *b.running.borrow_mut() = false;
    block(drain(&b, &r, t(1), RETRY_BASE_MS)).unwrap();
    // 120 incidents: one digest (listing the first 50), sent once.
    assert_eq!(*r.sent.borrow(), vec![("alt_0".into(), 120)]);
    assert_eq!(b.audit.borrow().len(), 1);
    block(drain(&b, &r, t(2), RETRY_BASE_MS)).unwrap();
    assert_eq!(r.sent.borrow().len(), 1, "nothing is sent twice");
}

#[test]
fn a_429_or_5xx_is_retried_later_under_the_same_id_and_a_4xx_fails_once() {
    let b = book(2);
    let r = Resend::answering(vec![(Some(429), Some("120")), (Some(503), None)]);
    let next = block(drain(&b, &r, t(0), RETRY_BASE_MS)).unwrap();
    // Retry-After (120 s) beats the first backoff (30 s).
    assert_eq!(next, Some(t(120_000)));
    assert_eq!(
        block(drain(&b, &r, t(60_000), RETRY_BASE_MS)).unwrap(),
        Some(t(120_000)),
        "not due yet"
    );
    let next = block(drain(&b, &r, t(120_000), RETRY_BASE_MS)).unwrap();
    assert_eq!(next, Some(t(120_000 + 60_000)), "the second backoff: 60 s");
    block(drain(&b, &r, t(180_000), RETRY_BASE_MS)).unwrap();
    let ids: Vec<String> = r.sent.borrow().iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids, vec!["alt_0", "alt_0", "alt_0"]);
    assert_eq!(*b.audit.borrow(), vec!["alert.sent alt_0".to_owned()]);

    let b = book(1);
    let r = Resend::answering(vec![(Some(422), None)]);
    assert_eq!(block(drain(&b, &r, t(0), RETRY_BASE_MS)).unwrap(), None);
    assert!(
        b.audit.borrow()[0].starts_with("alert.failed alt_0 Resend refused the e-mail (HTTP 422)")
    );
}

#[test]
fn a_digest_is_given_up_after_max_attempts_and_without_recipients_is_not_sent() {
    let b = book(1);
    let r = Resend::answering(vec![(Some(500), None); MAX_ATTEMPTS as usize]);
    let mut now = 0;
    while let Some(at) = block(drain(&b, &r, t(now), RETRY_BASE_MS)).unwrap() {
        now = at.millis();
    }
    assert_eq!(r.sent.borrow().len(), MAX_ATTEMPTS as usize);
    assert!(b.audit.borrow()[0].contains("given up after 12 sends (last: HTTP 500)"));

    let mut b = book(1);
    b.to = vec![];
    let r = Resend::answering(vec![]);
    block(drain(&b, &r, t(0), RETRY_BASE_MS)).unwrap();
    assert!(r.sent.borrow().is_empty());
    assert!(b.audit.borrow()[0].contains("no recipients"));
}

#[test]
fn outcomes_and_backoff() {
    assert_eq!(outcome(Some(200), None, 0, RETRY_BASE_MS), Outcome::Sent);
    assert_eq!(
        outcome(None, None, 0, RETRY_BASE_MS),
        Outcome::Retry(30_000)
    );
    assert_eq!(
        outcome(Some(502), None, 3, RETRY_BASE_MS),
        Outcome::Retry(240_000)
    );
    assert_eq!(
        outcome(Some(429), Some(" 5 "), 0, RETRY_BASE_MS),
        Outcome::Retry(30_000)
    );
    assert_eq!(
        outcome(Some(429), Some("999999"), 0, RETRY_BASE_MS),
        Outcome::Retry(3_600_000)
    );
    assert_eq!(backoff_ms(RETRY_BASE_MS, 30, None), 3_600_000);
    assert!(matches!(
        outcome(Some(401), None, 0, RETRY_BASE_MS),
        Outcome::Failed(_)
    ));
    assert!(matches!(
        outcome(Some(500), None, MAX_ATTEMPTS - 1, RETRY_BASE_MS),
        Outcome::Failed(_)
    ));
}

#[test]
fn recipients_are_the_projects_list_or_the_orgs_owners_and_admins() {
    let members = vec![
        (Role::Owner, "Boss@Acme.test".to_owned()),
        (Role::Admin, "ops@acme.test".to_owned()),
        (Role::Member, "dev@acme.test".to_owned()),
        (Role::Admin, "ops@acme.test".to_owned()),
    ];
    assert_eq!(
        recipients(None, &members),
        vec!["boss@acme.test", "ops@acme.test"]
    );
    assert_eq!(
        recipients(Some(&[]), &members),
        vec!["boss@acme.test", "ops@acme.test"]
    );
    let list = vec!["alerts@acme.test".to_owned()];
    assert_eq!(recipients(Some(&list), &members), vec!["alerts@acme.test"]);
    let many: Vec<String> = (0..80).map(|i| format!("a{i:02}@x.test")).collect();
    assert_eq!(recipients(Some(&many), &[]).len(), MAX_RECIPIENTS);
}

#[test]
fn the_mail_names_customer_kind_and_link_on_clean_lines() {
    let (subject, text) = compose(
        "Acme\r\nBcc: x@evil",
        "prj_1",
        "https://pr.example/",
        &[item(7, "unpaid_access")],
        1,
    );
    assert!(
        !subject.contains('\n') && !subject.contains('\r'),
        "{subject}"
    );
    assert!(subject.starts_with("ParityRail: 1 customer paying"));
    assert!(
        text.contains(
            "- cus_7: unpaid_access\n  https://pr.example/projects/prj_1/incidents/inc_7\n"
        ),
        "{text}"
    );
    let d = Digest {
        id: "alt_1".into(),
        to: vec!["a@x.test".into(), "b@x.test".into()],
        subject,
        text,
        incidents: 1,
        attempts: 0,
    };
    let body = resend_body("ParityRail <n@x.test>", &d);
    assert_eq!(body["to"], serde_json::json!(["a@x.test", "b@x.test"]));
    assert!(body.get("html").is_none());
    assert!(alerts_on(IncidentKind::MissingAccess) && alerts_on(IncidentKind::UnpaidAccess));
    assert!(!alerts_on(IncidentKind::PlanMismatch));
    // More than it lists: how many more, and where all of them are.
    let (_, text) = compose(
        "Acme",
        "prj_1",
        "https://pr.example",
        &[item(1, "missing_access")],
        3,
    );
    assert!(
        text.contains("- and 2 more: https://pr.example/projects/prj_1/incidents?status=open\n"),
        "{text}"
    );
    assert!(outcome(Some(409), None, 0, RETRY_BASE_MS) == Outcome::Retry(30_000));
}
