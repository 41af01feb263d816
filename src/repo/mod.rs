//! D1 repositories. All SQL lives under this module; every statement goes through a `Tenant`
//! (see `auth::scope`) so the org id is always bound. The rows themselves and their pure methods
//! are the core's (`parityrail_core::rows`): they deserialize into the domain's enums (roles,
//! environments, capabilities, statuses) at this boundary; a row is not a response or an audit
//! payload (`view()` gives the `api::views` struct). Only the SQL and its execution live here.
//! Every function answers `Fault`.

pub mod alerts;
pub mod audit;
pub mod callers;
pub mod checkpoints;
pub mod credentials;
pub mod exports;
pub mod hooks;
pub mod incidents;
pub mod jobs;
pub mod keys;
pub mod lists;
pub mod mappings;
pub mod members;
pub mod orgs;
pub mod projects;
pub mod raw;
pub mod repairs;
pub mod runs;
pub mod sessions;
pub mod signing;
pub mod webhooks;

use wasm_bindgen::JsValue;

pub use parityrail_core::rows::Arg;

/// A parameter as D1 binds it. Integers travel as JS numbers (D1 refuses BigInt).
pub fn to_js(a: &Arg) -> JsValue {
    match a {
        Arg::Text(s) => JsValue::from_str(s),
        Arg::Int(i) => JsValue::from_f64(*i as f64),
        Arg::Null => JsValue::null(),
    }
}
