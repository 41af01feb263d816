//! `parityrail-verify <bundle-dir> --key <key.pem>`: verifies a downloaded export bundle without
//! contacting ParityRail. The directory holds `manifest.json`, `manifest.sig` and the files the
//! manifest lists; the key is the org's public key (`GET /v1/org/signing-key`). It checks the
//! manifest's Ed25519 signature, each file's size and SHA-256, every entry's hash, its place in
//! the range and its link to the entry before it, the count and ends, and the quoted checkpoint.
//! Prints a JSON report; exits 0 when the bundle verifies, 1 when it does not, 2 on bad usage.

use ed25519_dalek::{Signature, VerifyingKey};
use parityrail_core::domain::bundle::verify_bundle;
use parityrail_core::domain::exports::{MANIFEST, SIGNATURE};
use parityrail_core::domain::signing::public_from_pem;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn ed25519(public: &[u8; 32], message: &[u8], sig: &[u8]) -> bool {
    let (Ok(key), Ok(sig)) = (VerifyingKey::from_bytes(public), Signature::from_slice(sig)) else {
        return false;
    };
    key.verify_strict(message, &sig).is_ok()
}

fn usage(why: &str) -> ExitCode {
    eprintln!("parityrail-verify: {why}\nusage: parityrail-verify <bundle-dir> --key <key.pem>");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = None;
    let mut key = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--key" => key = it.next().cloned(),
            "-h" | "--help" => return usage("verifies an export bundle"),
            other if dir.is_none() => dir = Some(PathBuf::from(other)),
            _ => return usage("too many arguments"),
        }
    }
    let (Some(dir), Some(key)) = (dir, key) else {
        return usage("a bundle directory and --key are required");
    };
    let pem = match std::fs::read_to_string(&key) {
        Ok(p) => p,
        Err(e) => return usage(&format!("cannot read {key}: {e}")),
    };
    let public = match public_from_pem(&pem) {
        Ok(p) => p,
        Err(e) => return usage(&format!("{key}: {e}")),
    };
    // Regular files of a sane size only: a manifest is small, a signature is 64 bytes.
    let read = |name: &str, max: u64| -> std::io::Result<Vec<u8>> {
        let path = dir.join(name);
        let meta = std::fs::metadata(&path)?;
        if !meta.is_file() || meta.len() > max {
            return Err(std::io::Error::other(format!(
                "{name} is not a file of at most {max} bytes"
            )));
        }
        std::fs::read(path)
    };
    let (manifest, sig) = match (read(MANIFEST, 1 << 20), read(SIGNATURE, 64)) {
        (Ok(m), Ok(s)) => (m, s),
        _ => return usage("the directory must hold manifest.json and manifest.sig"),
    };
    let started = Instant::now();
    let report = verify_bundle(&manifest, &sig, &public, ed25519, |name| {
        // Regular files only (not a device or a pipe that never ends).
        let path = dir.join(name);
        std::fs::metadata(&path)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|_| File::open(path).ok())
            .map(|f| BufReader::with_capacity(1 << 20, f))
    });
    let secs = started.elapsed().as_secs_f64();
    let mut out = serde_json::to_value(&report).unwrap_or_default();
    if let Some(o) = out.as_object_mut() {
        o.insert("seconds".into(), serde_json::json!(secs));
        let rate = if secs > 0.0 {
            report.entries_checked as f64 / secs
        } else {
            0.0
        };
        o.insert("entries_per_second".into(), serde_json::json!(rate.round()));
    }
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
