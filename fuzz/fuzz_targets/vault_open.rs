//! The vault's sealed-blob opener over arbitrary stored text: it must refuse (never panic) and
//! never open anything that was not sealed under its key and binding.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parityrail_core::domain::vault::{Binding, Keyring};

fuzz_target!(|data: &[u8]| {
    let ring = Keyring::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("a valid keyring");
    let sealed = String::from_utf8_lossy(data);
    let binding = Binding {
        org_id: "org_1",
        project_id: "prj_1",
        kind: "stripe_api_key",
        credential_id: "cred_1",
    };
    if let Ok(secret) = ring.open(&binding, &sealed) {
        // Only a blob sealed with this key and binding opens: forging one means breaking GCM.
        panic!("opened a blob the fuzzer made up: {} bytes", secret.expose().len());
    }
    let _ = Keyring::kid_of(&sealed);
    let _ = ring.rewrap(&binding, &sealed, &mut parityrail_core::domain::ports::FakeRng(1));
});
