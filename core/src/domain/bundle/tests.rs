use super::*;
use crate::domain::exports::tests::{chain, ed25519_verify, run, TestSigner};
use crate::domain::exports::{finish, ExportSpec, Format, MANIFEST, SIGNATURE};
use crate::domain::store::MemoryObjects;
use proptest::prelude::*;

fn bundle(format: Format, actions: Option<Vec<String>>) -> (MemoryObjects, ExportSpec, TestSigner) {
    let entries = chain(40);
    let s = ExportSpec {
        id: "exp_1".into(),
        org: "org_1".into(),
        project: "prj_1".into(),
        environment: Some("test".into()),
        chain: "project:prj_1".into(),
        from_seq: 5,
        to_seq: 30,
        actions,
        format,
        created_at: "2026-12-02T00:00:00.000Z".into(),
        prefix: "b/".into(),
        checkpoint: None,
    };
    let store = MemoryObjects::default();
    let signer = TestSigner::new(9);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let (p, _) = run(&s, &entries, &store, 4096, 8).await;
            finish(&s, &p, &signer, &store).await.unwrap();
        });
    (store, s, signer)
}

fn verify_store(
    store: &MemoryObjects,
    signer: &TestSigner,
    edit: impl Fn(&str, &mut Vec<u8>),
) -> Report {
    let get = |n: &str| {
        let mut b = store
            .objects
            .borrow()
            .get(&format!("b/{n}"))
            .map(|o| o.0.clone())?;
        edit(n, &mut b);
        Some(b)
    };
    let (m, s) = (get(MANIFEST).unwrap(), get(SIGNATURE).unwrap());
    verify_bundle(&m, &s, &signer.public(), ed25519_verify, |n| {
        get(n).map(std::io::Cursor::new)
    })
}

#[test]
fn a_csv_only_bundle_is_checked_entry_by_entry() {
    let (store, _, signer) = bundle(Format::Csv, None);
    let r = verify_store(&store, &signer, |_, _| {});
    assert!(r.ok, "{:?}", r.problems);
    assert_eq!(r.entries_checked, 26);
    // A tampered hash field inside the CSV (file hash and entry hash both break).
    let r = verify_store(&store, &signer, |n, b| {
        if n == "entries.csv" {
            let at = b.len() - 3;
            b[at] = if b[at] == b'0' { b'1' } else { b'0' };
        }
    });
    let what: Vec<_> = r.problems.iter().map(|p| p.what).collect();
    assert!(
        what.contains(&"entry_hash") && what.contains(&"file_hash"),
        "{what:?}"
    );
}

#[test]
fn a_filtered_bundle_checks_links_only_between_neighbours() {
    let (store, _, signer) = bundle(Format::Jsonl, Some(vec!["repair.executed".into()]));
    let r = verify_store(&store, &signer, |_, _| {});
    assert!(r.ok, "{:?}", r.problems);
    assert!(r.entries_checked > 5 && r.entries_checked < 26);
}

#[test]
fn csv_records_split_by_rfc_4180() {
    assert_eq!(
        csv_fields(b"1,\"a,\"\"b\"\"\r\nc\",x\r\n").unwrap(),
        vec!["1", "a,\"b\"\r\nc", "x"]
    );
    assert!(csv_fields(b"1,a\"b\r\n").is_none());
    assert!(csv_fields(b"1,\"ab\"c\r\n").is_none());
    assert!(csv_fields(b"no line break").is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn no_input_panics_the_verifier(manifest in proptest::collection::vec(any::<u8>(), 0..400), file in proptest::collection::vec(any::<u8>(), 0..400), sig in proptest::collection::vec(any::<u8>(), 0..80)) {
        let r = verify_bundle(&manifest, &sig, &[1; 32], |_, _, _| true, |_| Some(std::io::Cursor::new(file.clone())));
        prop_assert!(!r.ok);
    }

    #[test]
    fn any_byte_flipped_in_a_bundle_is_found(file in 0usize..3, pick in any::<proptest::sample::Index>(), bit in 0u8..8) {
        let (store, _, signer) = bundle(Format::Both, None);
        let name = [MANIFEST, "entries.jsonl", "entries.csv"][file];
        let r = verify_store(&store, &signer, |n, b| {
            if n == name {
                let i = pick.index(b.len());
                b[i] ^= 1 << bit;
            }
        });
        prop_assert!(!r.ok);
    }
}
