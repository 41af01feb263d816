//! Writes seed inputs for the fuzz targets in `fuzz/` (valid shapes the fuzzer mutates from):
//! `cargo run -p parityrail-core --example fuzz_seeds -- fuzz/corpus`.

use parityrail_core::domain::audit::{Action, Actor, AuditEntry, Draft};
use parityrail_core::domain::exports::{self, EntrySource, ExportSpec, Format, Progress, Step};
use parityrail_core::domain::signing::{KeyRef, Signer};
use parityrail_core::domain::store::{MemoryObjects, StoreError};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::domain::vault::{Binding, Keyring};
use std::path::Path;

struct Entries(Vec<AuditEntry>);
impl EntrySource for Entries {
    async fn page(&self, after: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .0
            .iter()
            .filter(|e| e.seq > after)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

struct ZeroSigner;
impl Signer for ZeroSigner {
    async fn sign(&self, _: &[u8]) -> Result<Vec<u8>, StoreError> {
        Ok(vec![0; 64])
    }
    fn key(&self) -> KeyRef {
        KeyRef {
            id: "sk_seed".into(),
            sha256: "0".repeat(64),
        }
    }
}

fn chain(n: usize) -> Vec<AuditEntry> {
    let mut out: Vec<AuditEntry> = Vec::new();
    for i in 0..n {
        let prev = out.last().map(|e| (e.seq, e.hash.as_str()));
        let d = Draft::new(
            Actor::System("cron"),
            Action::RepairExecuted,
            format!("customer:cus_{i}"),
            serde_json::json!({"plan": "free", "note": "a,\"b\"\r\n"}),
            serde_json::json!({"plan": "pro"}),
        );
        out.push(d.seal(prev, Timestamp::from_millis(1_700_000_000_000 + i as i64)));
    }
    out
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let d = Path::new(&dir).join(target);
        std::fs::create_dir_all(&d).expect("corpus dir");
        std::fs::write(d.join(name), bytes).expect("seed");
    };
    let entries = chain(6);
    let mut jsonl = Vec::new();
    jsonl.extend_from_slice(&5u64.to_le_bytes());
    jsonl.extend_from_slice(entries[4].hash.as_bytes());
    jsonl.push(b'\n');
    for e in &entries {
        jsonl.extend(exports::FileKind::Jsonl.line(e));
    }
    write("chain_verifier", "seed", &jsonl);

    let spec = ExportSpec {
        id: "exp_seed".into(),
        org: "org_seed".into(),
        project: "prj_seed".into(),
        environment: Some("test".into()),
        chain: "project:prj_seed".into(),
        from_seq: 2,
        to_seq: 5,
        actions: None,
        format: Format::Both,
        created_at: "2026-12-02T00:00:00.000Z".into(),
        prefix: String::new(),
        checkpoint: None,
    };
    let store = MemoryObjects::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut p = Progress::default();
        while exports::step(
            &spec,
            &mut p,
            &Entries(entries.clone()),
            &store,
            exports::PART_BYTES,
            4,
        )
        .await
        .expect("step")
            != Step::Written
        {}
        exports::finish(&spec, &p, &ZeroSigner, &store)
            .await
            .expect("finish");
    });
    let obj = |n: &str| store.objects.borrow()[n].0.clone();
    let mut bundle = obj(exports::MANIFEST);
    for part in [
        obj(exports::SIGNATURE),
        obj("entries.jsonl"),
        obj("entries.csv"),
    ] {
        bundle.push(0xFF);
        bundle.extend(part);
    }
    write("bundle_verifier", "seed", &bundle);

    let ring = Keyring::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("ring");
    let binding = Binding {
        org_id: "org_1",
        project_id: "prj_1",
        kind: "stripe_api_key",
        credential_id: "cred_2",
    };
    let sealed = ring
        .seal(
            &binding,
            "sk_test_seed",
            &mut parityrail_core::domain::ports::FakeRng(3),
        )
        .expect("seal");
    write("vault_open", "seed", sealed.as_bytes());

    let mut hook = b"t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39".to_vec();
    hook.push(0xFF);
    hook.extend_from_slice(br#"{"id":"evt_1","type":"customer.subscription.deleted"}"#);
    write("webhook_header", "seed", &hook);
    println!("seeds written under {dir}");
}
