//! The audit chain verifier over arbitrary JSONL: every line that parses as an entry is fed in
//! order, against a checkpoint taken from the first line; nothing may panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parityrail_core::domain::audit::{AuditEntry, ChainVerifier, CheckpointSeen};

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    let mut v = if first.len() >= 9 {
        let size = u64::from_le_bytes(first[..8].try_into().unwrap_or_default());
        ChainVerifier::against(CheckpointSeen {
            size,
            head_hash: String::from_utf8_lossy(&first[8..]).into_owned(),
            time: String::new(),
        })
    } else {
        ChainVerifier::default()
    };
    for line in lines {
        if let Ok(e) = serde_json::from_slice::<AuditEntry>(line) {
            if !v.push(&e) {
                break;
            }
        }
    }
    let _ = v.finish();
});
