use super::*;
use crate::domain::audit::{Action, Actor, AuditEntry, Draft};
use crate::domain::bundle::verify_bundle;
use crate::domain::input::InputError;
use crate::domain::signing::{fingerprint, KeyRef, SignedCheckpoint, Signer};
use crate::domain::store::MemoryObjects;
use crate::domain::store::StoreError;
use crate::domain::time::Timestamp;
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use proptest::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};

pub(crate) struct TestSigner(pub SigningKey);

impl TestSigner {
    pub(crate) fn new(seed: u8) -> Self {
        TestSigner(SigningKey::from_bytes(&[seed; 32]))
    }
    pub(crate) fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }
}

impl Signer for TestSigner {
    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, StoreError> {
        use ed25519_dalek::Signer as _;
        Ok(self.0.sign(message).to_bytes().to_vec())
    }
    fn key(&self) -> KeyRef {
        KeyRef {
            id: "sk_test".into(),
            sha256: fingerprint(&self.public()),
        }
    }
}

/// `good` with every entry from index `keep` on replaced by a consistent forgery (hashes and
/// links recomputed): only a signed checkpoint past `keep` tells.
pub(crate) fn rewritten(good: &[AuditEntry], keep: usize) -> Vec<AuditEntry> {
    let mut c = good[..keep].to_vec();
    for i in keep..good.len() {
        let prev = c.last().map(|e| (e.seq, e.hash.clone()));
        let d = Draft::new(
            Actor::System("cron"),
            Action::RepairExecuted,
            format!("forged:{i}"),
            json!(null),
            json!(null),
        );
        c.push(d.seal(
            prev.as_ref().map(|(s, h)| (*s, h.as_str())),
            Timestamp::from_millis(0),
        ));
    }
    c
}

/// A checkpoint as the caller hands it over (its signature already checked).
fn pinned(size: u64, hash: &str) -> SignedCheckpoint {
    SignedCheckpoint {
        checkpoint: crate::domain::signing::Checkpoint {
            chain: "project:prj_1".into(),
            size,
            head_hash: hash.to_owned(),
            time: "2026-12-02T00:00:00.000Z".into(),
            environment: Some("test".into()),
        },
        signature: String::new(),
        key: KeyRef {
            id: "sk_test".into(),
            sha256: String::new(),
        },
    }
}

pub(crate) fn ed25519_verify(public: &[u8; 32], message: &[u8], sig: &[u8]) -> bool {
    let (Ok(key), Ok(sig)) = (VerifyingKey::from_bytes(public), Signature::from_slice(sig)) else {
        return false;
    };
    key.verify(message, &sig).is_ok()
}

pub(crate) fn chain(n: usize) -> Vec<AuditEntry> {
    let actions = [
        Action::RepairExecuted,
        Action::IncidentOpened,
        Action::ProjectUpdated,
    ];
    let mut out: Vec<AuditEntry> = Vec::new();
    for i in 0..n {
        let draft = Draft::new(
            Actor::System("cron"),
            actions[i % 3],
            format!("customer:cus_{i}"),
            json!({"note": "a, \"quoted\"\r\nline", "i": i}),
            json!({"é": "ü", "i": i + 1}),
        );
        let prev = out.last().map(|e| (e.seq, e.hash.as_str()));
        out.push(draft.seal(prev, Timestamp::from_millis(1_700_000_000_000 + i as i64)));
    }
    out
}

pub(crate) struct VecSource(pub Vec<AuditEntry>);

impl EntrySource for VecSource {
    async fn page(&self, after_seq: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .0
            .iter()
            .filter(|e| e.seq > after_seq)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

fn spec(from: u64, to: u64, actions: Option<Vec<String>>, format: Format) -> ExportSpec {
    ExportSpec {
        id: "exp_1".into(),
        org: "org_1".into(),
        project: "prj_1".into(),
        environment: Some("test".into()),
        chain: "project:prj_1".into(),
        from_seq: from,
        to_seq: to,
        actions,
        format,
        created_at: "2026-12-02T00:00:00.000Z".into(),
        prefix: "exports/org_1/prj_1/exp_1/".into(),
        checkpoint: None,
    }
}

/// `spec` with the range's end at most the chain's head, as the edge resolves it.
fn spec_in(
    n: usize,
    from: u64,
    to: u64,
    actions: Option<Vec<String>>,
    format: Format,
) -> ExportSpec {
    spec(from, to.min(n as u64), actions, format)
}

/// Runs an export to the end the way the coordinator does: a step, the progress saved (a JSON
/// round trip, as in storage), the next step. Returns the steps taken.
pub(crate) async fn run(
    spec: &ExportSpec,
    entries: &[AuditEntry],
    store: &MemoryObjects,
    part: usize,
    budget: u32,
) -> (Progress, u32) {
    let src = VecSource(entries.to_vec());
    let mut saved = serde_json::to_string(&Progress::default()).unwrap();
    for steps in 1..10_000 {
        let mut p: Progress = serde_json::from_str(&saved).unwrap();
        let s = step(spec, &mut p, &src, store, part, budget).await.unwrap();
        saved = serde_json::to_string(&p).unwrap();
        if s == Step::Written {
            return (p, steps);
        }
    }
    panic!("the export never ended");
}

fn expected(kind: FileKind, spec: &ExportSpec, entries: &[AuditEntry]) -> Vec<u8> {
    let mut out = kind.header().to_vec();
    for e in entries
        .iter()
        .filter(|e| e.seq >= spec.from_seq && e.seq <= spec.to_seq && spec.selects(e))
    {
        out.extend(kind.line(e));
    }
    out
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn the_saved_hash_state_gives_sha256() {
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for cut in [0, 64, 640, 9_984] {
        let mut h = Sha256Mid::default();
        h.absorb(&data[..cut]).unwrap();
        let h: Sha256Mid = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(
            h.finish(&data[cut..]),
            crate::domain::apikey::hex(&Sha256::digest(&data))
        );
    }
    assert!(Sha256Mid::default().absorb(&data[..65]).is_err());
    assert_eq!(
        Sha256Mid::default().finish(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn a_large_range_is_written_in_equal_parts_and_reads_back_whole() {
    rt().block_on(async {
        let entries = chain(300);
        let s = spec(1, 300, None, Format::Both);
        let store = MemoryObjects {
            min_part: 1024,
            ..Default::default()
        };
        let (p, steps) = run(&s, &entries, &store, 1024, 2).await;
        assert!(steps > 20, "one step per two parts, got {steps}");
        for kind in [FileKind::Jsonl, FileKind::Csv] {
            let got = store.objects.borrow()[&s.object_key(kind.name())].0.clone();
            assert_eq!(got, expected(kind, &s, &entries), "{}", kind.name());
            let done = p.done.iter().find(|d| d.name == kind.name()).unwrap();
            assert_eq!(done.bytes, got.len() as u64);
            assert_eq!(
                done.sha256,
                crate::domain::apikey::hex(&Sha256::digest(&got))
            );
        }
        let (count, first, last) = p.totals.clone().unwrap();
        assert_eq!(count, 300);
        assert_eq!(first.unwrap().seq, 1);
        assert_eq!(last.unwrap().hash, entries[299].hash);
    });
}

#[test]
fn a_small_range_is_one_object_and_an_empty_one_is_an_empty_file() {
    rt().block_on(async {
        let entries = chain(5);
        let store = MemoryObjects::default();
        let s = spec(2, 3, None, Format::Jsonl);
        let (p, steps) = run(&s, &entries, &store, PART_BYTES, 4).await;
        assert_eq!(steps, 1);
        assert!(store.uploads.borrow().is_empty());
        assert_eq!(p.totals.clone().unwrap().0, 2);
        let s = spec_in(5, 9, 20, None, Format::Csv);
        let (p, _) = run(&s, &entries, &store, PART_BYTES, 4).await;
        assert_eq!(p.totals.unwrap().0, 0);
        assert_eq!(
            store.objects.borrow()[&s.object_key("entries.csv")].0,
            CSV_HEADER.as_bytes()
        );
    });
}

#[test]
fn a_bundle_verifies_offline_and_any_tampering_is_named() {
    rt().block_on(async {
        let entries = chain(120);
        let signer = TestSigner::new(3);
        let s = spec(1, 120, None, Format::Both);
        let store = MemoryObjects {
            min_part: 512,
            ..Default::default()
        };
        let (p, _) = run(&s, &entries, &store, 512, 3).await;
        let cp = crate::domain::signing::SignedCheckpoint::sign(
            crate::domain::signing::Checkpoint {
                chain: s.chain.clone(),
                size: 100,
                head_hash: entries[99].hash.clone(),
                time: "2026-12-02T00:00:00.000Z".into(),
                environment: Some("test".into()),
            },
            &signer,
        )
        .await
        .unwrap();
        let mut p = p;
        p.checkpoint = Some(cp);
        finish(&s, &p, &signer, &store).await.unwrap();
        let objects = store.objects.borrow().clone();
        let get = |name: &str| objects[&s.object_key(name)].0.clone();
        let check = |files: &dyn Fn(&str) -> Option<Vec<u8>>, manifest: &[u8], sig: &[u8]| {
            verify_bundle(manifest, sig, &signer.public(), ed25519_verify, |n| {
                files(n).map(std::io::Cursor::new)
            })
        };
        let intact = |n: &str| Some(get(n));
        let r = check(&intact, &get(MANIFEST), &get(SIGNATURE));
        assert!(r.ok, "{:?}", r.problems);
        assert_eq!(r.entries_checked, 120);
        assert!(r.checkpoint_covered);

        // One bit of the manifest.
        let mut m = get(MANIFEST);
        m[10] ^= 1;
        let r = check(&intact, &m, &get(SIGNATURE));
        assert!(!r.ok && !r.signature_ok);

        // An entry altered and its file hash fixed up would still break the signed hash; an
        // entry removed breaks the count and the links.
        let mut jsonl = get("entries.jsonl");
        let pos = jsonl.windows(5).position(|w| w == b"cus_7").unwrap();
        jsonl[pos + 4] = b'8';
        let tampered = |n: &str| {
            if n == "entries.jsonl" {
                Some(jsonl.clone())
            } else {
                Some(get(n))
            }
        };
        let r = check(&tampered, &get(MANIFEST), &get(SIGNATURE));
        let what: Vec<_> = r.problems.iter().map(|p| p.what).collect();
        assert!(
            what.contains(&"file_hash") && what.contains(&"entry_hash"),
            "{what:?}"
        );

        let missing = |n: &str| {
            if n == "entries.csv" {
                None
            } else {
                Some(get(n))
            }
        };
        let r = check(&missing, &get(MANIFEST), &get(SIGNATURE));
        assert_eq!(r.problems[0].what, "missing_file");

        // Another key.
        let other = TestSigner::new(4);
        let r = verify_bundle(
            &get(MANIFEST),
            &get(SIGNATURE),
            &other.public(),
            ed25519_verify,
            |n| Some(std::io::Cursor::new(get(n))),
        );
        assert!(!r.signature_ok);
    });
}

#[test]
fn an_export_of_a_chain_that_does_not_verify_fails_and_writes_no_manifest() {
    rt().block_on(async {
        let good = chain(30);
        type Case = (&'static str, Vec<AuditEntry>, Option<SignedCheckpoint>);
        let cases: Vec<Case> = vec![
            (
                "altered",
                {
                    let mut c = good.clone();
                    c[12].target.push('x');
                    c
                },
                None,
            ),
            (
                "deleted",
                {
                    let mut c = good.clone();
                    c.remove(12);
                    c
                },
                None,
            ),
            (
                "rewritten from 12 on",
                rewritten(&good, 11),
                Some(pinned(20, &good[19].hash)),
            ),
            (
                "the entry before the range",
                {
                    let mut c = good.clone();
                    c[4].hash = "0".repeat(64);
                    c
                },
                None,
            ),
        ];
        for (what, entries, checkpoint) in cases {
            let mut s = spec(6, 30, Some(vec!["incident.opened".into()]), Format::Jsonl);
            s.checkpoint = checkpoint;
            let store = MemoryObjects::default();
            let mut p = Progress::default();
            let r = step(&s, &mut p, &VecSource(entries), &store, PART_BYTES, 4).await;
            assert!(
                matches!(r, Err(StoreError::NotIntact(ref m)) if m.contains("does not verify")),
                "{what}: {r:?}"
            );
            assert!(store.objects.borrow().is_empty(), "{what}");
        }
        // A chain shorter than the range (its tail deleted after the export was created).
        let mut p = Progress::default();
        let r = step(
            &spec(1, 40, None, Format::Jsonl),
            &mut p,
            &VecSource(good.clone()),
            &MemoryObjects::default(),
            PART_BYTES,
            4,
        )
        .await;
        assert!(
            matches!(r, Err(StoreError::NotIntact(ref m)) if m.contains("ends before")),
            "{r:?}"
        );
        // The anchors of a range: the entry before it and the entry at its end.
        let mut p = Progress::default();
        let s = spec(6, 20, Some(vec!["incident.opened".into()]), Format::Jsonl);
        step(
            &s,
            &mut p,
            &VecSource(good.clone()),
            &MemoryObjects::default(),
            PART_BYTES,
            4,
        )
        .await
        .unwrap();
        assert_eq!(p.from_prev_hash.as_deref(), Some(good[4].hash.as_str()));
        assert_eq!(p.to_hash.as_deref(), Some(good[19].hash.as_str()));
    });
}

#[test]
fn a_range_is_tied_to_the_signed_checkpoint_on_either_side_of_it() {
    rt().block_on(async {
        let good = chain(40);
        // Entries 2..=40 rewritten consistently (hashes recomputed): every link holds; only a
        // signed checkpoint at 2 or later tells.
        let forged = rewritten(&good, 1);
        for (from, to, cp_at) in [(1u64, 20u64, 40u64), (20, 30, 3), (10, 12, 11)] {
            let mut s = spec(from, to, None, Format::Jsonl);
            s.checkpoint = Some(pinned(cp_at, &good[cp_at as usize - 1].hash));
            let (p, steps) = run(&s, &good, &MemoryObjects::default(), PART_BYTES, 4).await;
            assert!(
                steps >= 1 && p.totals.is_some(),
                "{from}..{to}: the intact chain exports"
            );
            let mut p = Progress::default();
            let mut r = Ok(Step::More);
            while matches!(r, Ok(Step::More)) {
                r = step(
                    &s,
                    &mut p,
                    &VecSource(forged.clone()),
                    &MemoryObjects::default(),
                    PART_BYTES,
                    4,
                )
                .await;
            }
            assert!(
                matches!(r, Err(StoreError::NotIntact(ref m)) if m.contains("does not verify")),
                "{from}..{to} with the checkpoint at {cp_at}: {r:?}"
            );
        }
    });
}

#[test]
fn requests_parse_with_every_field_checked() {
    let ok = ExportRequest::parse(
        br#"{"from": 3, "to": "2026-12-02T00:00:00Z", "actions": ["repair.executed", "incident.opened", "repair.executed"], "format": "both"}"#,
    )
    .unwrap();
    assert_eq!(ok.from, Some(Bound::Seq(3)));
    assert!(matches!(ok.to, Some(Bound::Time(_))));
    assert_eq!(ok.actions.unwrap().len(), 2);
    assert_eq!(ExportRequest::parse(b"{}").unwrap().format, Format::Jsonl);
    assert_eq!(
        ExportRequest::parse(br#"{"from": "12"}"#).unwrap().from,
        Some(Bound::Seq(12))
    );
    for (body, field) in [
        (r#"{"from": 0}"#, "from"),
        (r#"{"from": 18446744073709551615}"#, "from"),
        (r#"{"to": 9007199254740992}"#, "to"),
        (r#"{"from": -1}"#, "from"),
        (r#"{"from": 1.5}"#, "from"),
        (r#"{"to": "yesterday"}"#, "to"),
        (r#"{"from": 9, "to": 3}"#, "to"),
        (r#"{"format": "xml"}"#, "format"),
        (r#"{"actions": []}"#, "actions"),
        (r#"{"actions": ["DROP TABLE"]}"#, "actions"),
        (r#"{"actions": ["repair"]}"#, "actions"),
    ] {
        match ExportRequest::parse(body.as_bytes()) {
            Err(InputError::InvalidField { field: f, .. }) => assert_eq!(f, field, "{body}"),
            other => panic!("{body}: {other:?}"),
        }
    }
    assert!(ExportRequest::parse(br#"{"format": "csv", "extra": 1}"#).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_split_into_parts_and_steps_writes_the_same_files(
        n in 0usize..80,
        from in 1u64..40,
        len in 0u64..80,
        part_blocks in 1usize..6,
        budget in 1u32..4,
        filtered in any::<bool>(),
    ) {
        let entries = chain(n);
        let actions = filtered.then(|| vec!["incident.opened".to_owned(), "repair.executed".to_owned()]);
        let s = spec_in(n, from, from + len, actions, Format::Both);
        let part = part_blocks * 64;
        let store = MemoryObjects { min_part: part, ..Default::default() };
        let (p, _) = rt().block_on(run(&s, &entries, &store, part, budget));
        for kind in [FileKind::Jsonl, FileKind::Csv] {
            let got = store.objects.borrow()[&s.object_key(kind.name())].0.clone();
            prop_assert_eq!(&got, &expected(kind, &s, &entries));
            let done = p.done.iter().find(|d| d.name == kind.name()).unwrap();
            prop_assert_eq!(&done.sha256, &crate::domain::apikey::hex(&Sha256::digest(&got)));
        }
        let selected = entries.iter().filter(|e| e.seq >= s.from_seq && e.seq <= s.to_seq && s.selects(e)).count();
        prop_assert_eq!(p.totals.unwrap().0, selected as u64);
    }
}
