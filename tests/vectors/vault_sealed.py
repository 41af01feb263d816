#!/usr/bin/env python3
"""Known-answer vectors for the credentials vault's sealed format (src/domain/vault.rs).

An implementation independent of the Rust code: Python's `cryptography` AESGCM (OpenSSL).
Run `python3 tests/vectors/vault_sealed.py`; the Rust tests hold the printed blobs verbatim.

v1 (legacy): 0x01 || L || kid || nonce(12) || ct||tag       AAD = binding
v2:          0x02 || L || kid || nonce(12) || ct||tag       AAD = 0x02 || L || kid || binding
binding = UTF-8 of org_id "|" project_id "|" kind "|" credential_id; the blob is standard base64.
"""
import base64

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def seal(version, key, kid, nonce, binding, plaintext):
    kid = kid.encode("ascii")
    header = bytes([version, len(kid)]) + kid
    aad = binding.encode() if version == 1 else header + binding.encode()
    ct = AESGCM(key).encrypt(nonce, plaintext.encode(), aad)
    return base64.b64encode(header + nonce + ct).decode()


KEY_0_31 = bytes(range(32))
NONCE_0_11 = bytes(range(12))
BINDING = "org_A|prj_B|stripe_api_key|cred_C"

VECTORS = [
    # (name, version, key, kid, nonce, binding, plaintext)
    ("v1", 1, KEY_0_31, "k1", NONCE_0_11, BINDING, "rk_test_example"),
    ("v2", 2, KEY_0_31, "k1", NONCE_0_11, BINDING, "rk_test_example"),
    (
        "v2 long kid, empty plaintext",
        2,
        bytes([7] * 32),
        "kid_of_32_chars-ABCDEFGHIJKLMNOP",
        bytes(range(100, 112)),
        "org_X|prj_Y|database_url|cred_Z",
        "",
    ),
]

if __name__ == "__main__":
    for name, *args in VECTORS:
        print(f"{name}: {seal(*args)}")
