//! The Stripe-Signature header parser and the whole check over arbitrary headers and bodies
//! (split on the first 0xFF); nothing may panic, and nothing verifies without the secret.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parityrail_core::domain::webhook::{parse_header, verify};

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let header = String::from_utf8_lossy(header);
    let _ = parse_header(&header);
    for now in [0, 1_700_000_000, i64::MAX, i64::MIN] {
        if verify(&header, body, &[b"whsec_fuzz"], now).is_ok() {
            panic!("a made-up header verified");
        }
    }
});
