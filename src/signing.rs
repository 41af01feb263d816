//! The org's Ed25519 signing key at the edge (SPEC §9, §10). Keys are made and used by the
//! runtime's WebCrypto (`crypto.subtle`, whose key generation draws on the platform CSPRNG), so
//! no curve arithmetic ships in the worker. The private key leaves WebCrypto only as PKCS #8,
//! is sealed in the vault at once (bound to org, "", `signing_key`, key id), and is opened
//! again only to sign. The first need of a key (an export, a checkpoint, `GET
//! /v1/org/signing-key`) makes it, audited on the org chain as `signing_key.created`.

use super::audit::{retrying, Chain};
use super::auth::scope::Tenant;
use super::repo;
use super::repo::signing::SigningKeyRow;
use super::services::Services;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use parityrail_core::domain::append::Step;
use parityrail_core::domain::audit::{Action, Actor, Draft};
use parityrail_core::domain::ids::SigningKeyId;
use parityrail_core::domain::ports::OsRng;
use parityrail_core::domain::signing::{
    fingerprint, pkcs8_from_seed, seed_from_pkcs8, KeyRef, Signer,
};
use parityrail_core::domain::store::StoreError;
use parityrail_core::domain::vault::{Binding, Keyring, SEALED_FORMAT};
use parityrail_core::fault::{Fallible, Fault};
use serde_json::json;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use zeroize::Zeroizing;

const KIND: &str = "signing_key";

fn js_err(what: &str) -> impl Fn(JsValue) -> Fault + '_ {
    move |e| Fault::internal(format!("WebCrypto {what}: {e:?}"))
}

/// `crypto.subtle[method](...args)`, awaited.
async fn subtle(method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())?;
    let subtle = Reflect::get(&crypto, &"subtle".into())?;
    let f: Function = Reflect::get(&subtle, &method.into())?.dyn_into()?;
    let p: Promise = f
        .apply(&subtle, &args.iter().collect::<Array>())?
        .dyn_into()?;
    JsFuture::from(p).await
}

fn ed25519() -> JsValue {
    let o = Object::new();
    let _ = Reflect::set(&o, &"name".into(), &"Ed25519".into());
    o.into()
}

fn usages(list: &[&str]) -> JsValue {
    list.iter()
        .map(|s| JsValue::from_str(s))
        .collect::<Array>()
        .into()
}

fn bytes(v: &JsValue) -> Vec<u8> {
    Uint8Array::new(v).to_vec()
}

/// Zeroes an `ArrayBuffer` that held key material (a view over it, not a copy).
fn wipe(v: &JsValue) {
    let a = Uint8Array::new(v);
    a.fill(0, 0, a.length());
}

/// A fresh key pair: the 32-byte seed and the raw public key.
async fn generate() -> Fallible<(Zeroizing<[u8; 32]>, [u8; 32])> {
    let pair = subtle(
        "generateKey",
        &[ed25519(), true.into(), usages(&["sign", "verify"])],
    )
    .await
    .map_err(js_err("generateKey"))?;
    let private = Reflect::get(&pair, &"privateKey".into()).map_err(js_err("privateKey"))?;
    let public = Reflect::get(&pair, &"publicKey".into()).map_err(js_err("publicKey"))?;
    let exported = subtle("exportKey", &["pkcs8".into(), private])
        .await
        .map_err(js_err("exportKey"))?;
    let der = Zeroizing::new(bytes(&exported));
    wipe(&exported);
    let raw = bytes(
        &subtle("exportKey", &["raw".into(), public])
            .await
            .map_err(js_err("exportKey"))?,
    );
    let seed = Zeroizing::new(
        seed_from_pkcs8(&der).map_err(|e| Fault::internal(format!("generated key: {e}")))?,
    );
    let public: [u8; 32] = raw
        .try_into()
        .map_err(|_| Fault::internal("generated public key is not 32 bytes"))?;
    Ok((seed, public))
}

/// Whether `sig` is `public`'s signature of `message`.
pub async fn verify(public: &[u8; 32], message: &[u8], sig: &[u8]) -> Fallible<bool> {
    let key = subtle(
        "importKey",
        &[
            "raw".into(),
            Uint8Array::from(&public[..]).into(),
            ed25519(),
            false.into(),
            usages(&["verify"]),
        ],
    )
    .await
    .map_err(js_err("importKey"))?;
    let ok = subtle(
        "verify",
        &[
            ed25519(),
            key,
            Uint8Array::from(sig).into(),
            Uint8Array::from(message).into(),
        ],
    )
    .await
    .map_err(js_err("verify"))?;
    Ok(ok.as_bool() == Some(true))
}

/// An org's key, opened: it signs, and checks every signature it makes against its public key
/// before handing it out.
pub struct OrgKey {
    pub id: String,
    pub public: [u8; 32],
    seed: Zeroizing<[u8; 32]>,
}

impl OrgKey {
    async fn sign_checked(&self, message: &[u8]) -> Fallible<Vec<u8>> {
        let der = Zeroizing::new(pkcs8_from_seed(&self.seed));
        let js_der = Uint8Array::from(&der[..]);
        let key = subtle(
            "importKey",
            &[
                "pkcs8".into(),
                js_der.clone().into(),
                ed25519(),
                false.into(),
                usages(&["sign"]),
            ],
        )
        .await;
        js_der.fill(0, 0, js_der.length());
        let key = key.map_err(js_err("importKey"))?;
        let sig = bytes(
            &subtle("sign", &[ed25519(), key, Uint8Array::from(message).into()])
                .await
                .map_err(js_err("sign"))?,
        );
        if !verify(&self.public, message, &sig).await? {
            return Err(Fault::internal(format!(
                "signing key {} does not match its public key",
                self.id
            )));
        }
        Ok(sig)
    }
}

impl Signer for OrgKey {
    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.sign_checked(message)
            .await
            .map_err(|e| StoreError::Failed(e.detail().unwrap_or_else(|| e.message())))
    }

    fn key(&self) -> KeyRef {
        KeyRef {
            id: self.id.clone(),
            sha256: fingerprint(&self.public),
        }
    }
}

fn binding<'a>(t: &'a Tenant, id: &'a str) -> Binding<'a> {
    Binding {
        org_id: t.org_id().as_str(),
        project_id: "",
        kind: KIND,
        credential_id: id,
    }
}

fn public_of(row: &SigningKeyRow) -> Fallible<[u8; 32]> {
    B64.decode(&row.public_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| Fault::internal(format!("signing key {}: bad public key", row.id)))
}

/// The org's public key (id, raw key, creation time), made on first need.
pub async fn public_key(svc: &Services, t: &Tenant) -> Fallible<(String, [u8; 32], String)> {
    let row = row(svc, t).await?;
    Ok((row.id.clone(), public_of(&row)?, row.created_at))
}

/// The org's key, opened to sign; made on first need.
pub async fn org_key(svc: &Services, t: &Tenant) -> Fallible<OrgKey> {
    let row = row(svc, t).await?;
    let ring = svc.keyring()?;
    let secret = ring
        .open(&binding(t, &row.id), &row.sealed)
        .map_err(|e| Fault::internal(format!("signing key {} does not open: {e}", row.id)))?;
    let der = Zeroizing::new(
        B64.decode(secret.expose())
            .map_err(|_| Fault::internal(format!("signing key {}: bad blob", row.id)))?,
    );
    let seed = Zeroizing::new(
        seed_from_pkcs8(&der)
            .map_err(|e| Fault::internal(format!("signing key {}: {e}", row.id)))?,
    );
    Ok(OrgKey {
        public: public_of(&row)?,
        id: row.id,
        seed,
    })
}

/// The org's key row; when there is none, a new key is made, sealed and recorded with
/// `signing_key.created` on the org chain. Two first needs at once both append to the org
/// chain: one wins, the other contends, runs again and finds the winner's key.
async fn row(svc: &Services, t: &Tenant) -> Fallible<SigningKeyRow> {
    if let Some(row) = repo::signing::get(t).await? {
        return Ok(row);
    }
    let ring = svc.keyring()?;
    let (seed, public) = generate().await?;
    let id = SigningKeyId::generate(&mut OsRng)?.to_string();
    let der = Zeroizing::new(pkcs8_from_seed(&seed));
    let sealed = seal(&ring, t, &id, &der)?;
    let new = SigningKeyRow {
        id: id.clone(),
        public_key: B64.encode(public),
        sealed,
        key_id: ring.current_kid().to_owned(),
        format: i64::from(SEALED_FORMAT),
        created_at: svc.now.to_rfc3339(),
    };
    retrying(t, Chain::Org, svc.now, || async {
        if let Some(row) = repo::signing::get(t).await? {
            return Ok(Step::Done(row));
        }
        let draft = Draft::new(
            Actor::System("signing"),
            Action::SigningKeyCreated,
            format!("signing_key:{id}"),
            serde_json::Value::Null,
            json!({"id": id, "algorithm": "Ed25519", "sha256": fingerprint(&public)}),
        );
        let insert = repo::signing::insert(t, &new)?;
        Ok(Step::commit(vec![draft], vec![insert], new.clone()))
    })
    .await
}

fn seal(ring: &Keyring, t: &Tenant, id: &str, der: &[u8]) -> Fallible<String> {
    let b64 = Zeroizing::new(B64.encode(der));
    ring.seal(&binding(t, id), &b64, &mut OsRng)
        .map_err(|e| Fault::internal(e.to_string()))
}

/// Ids of the org's key when the current master key or format did not seal it.
pub async fn stale(t: &Tenant, ring: &Keyring, after_id: &str) -> Fallible<Vec<String>> {
    repo::signing::stale(t, ring.current_kid(), SEALED_FORMAT, after_id).await
}

/// Re-seals the org's key under the current master key, audited on the org chain as
/// `signing_key.rewrapped`; `false` when there was nothing to do.
pub async fn rewrap(t: &Tenant, ring: &Keyring, svc: &Services) -> Fallible<bool> {
    retrying(t, Chain::Org, svc.now, || async {
        let Some(row) = repo::signing::get(t).await? else {
            return Ok(Step::Done(false));
        };
        let Some(new) = ring
            .rewrap(&binding(t, &row.id), &row.sealed, &mut OsRng)
            .map_err(|e| {
                Fault::internal(format!("signing key {} does not re-wrap: {e}", row.id))
            })?
        else {
            return Ok(Step::Done(false));
        };
        let draft = Draft::new(
            Actor::System("cron"),
            Action::SigningKeyRewrapped,
            format!("signing_key:{}", row.id),
            json!({"key_id": row.key_id, "format": row.format}),
            json!({"key_id": ring.current_kid(), "format": SEALED_FORMAT}),
        );
        let change = repo::signing::rewrap(
            t,
            &row.id,
            &row.sealed,
            &new,
            ring.current_kid(),
            SEALED_FORMAT,
        )?;
        Ok(Step::commit(vec![draft], vec![change], true))
    })
    .await
}
