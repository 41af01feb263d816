//! The offline bundle verifier over arbitrary bundles: the input is split on 0xFF into the
//! manifest, the signature and the two entry files. The signature check is made to pass so the
//! fuzzer reaches the manifest, file and entry checks; nothing may panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parityrail_core::domain::bundle::verify_bundle;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0xFF);
    let manifest = parts.next().unwrap_or_default();
    let sig = parts.next().unwrap_or_default();
    let jsonl = parts.next().unwrap_or_default().to_vec();
    let csv = parts.next().unwrap_or_default().to_vec();
    let _ = verify_bundle(manifest, sig, &[7; 32], |_, _, _| true, |name| match name {
        "entries.jsonl" => Some(std::io::Cursor::new(jsonl.clone())),
        "entries.csv" => Some(std::io::Cursor::new(csv.clone())),
        _ => None,
    });
});
