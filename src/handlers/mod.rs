//! HTTP handlers, one file per resource, for the routes `api::routes` declares. A handler's
//! signature says what it needs: `Principal` (org route), `InProject` (project route, tenancy
//! and role already checked), `Operator`, `VerifiedWebhook`; the body is parsed only after those.
//! Handlers answer `ApiResult`: what they call answers `Fault`, turned into a status and code by
//! `api::error` (`?`); the refusals a handler makes itself (a field, a role) are `ApiError`s.

pub mod audit;
pub mod customers;
pub mod exports;
pub mod incidents;
pub mod integrations;
pub mod keys;
pub mod mapping;
pub mod members;
pub mod meta;
pub mod operator;
pub mod org;
pub mod projects;
pub mod repairs;
pub mod runs;
pub mod webhooks;

use super::http::Query;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::input;

/// `limit` and `cursor` of a list request.
/// The `?customer=` filter of a list: a Stripe customer id, or `400`.
pub fn customer_filter(q: &Query) -> ApiResult<Option<String>> {
    q.get("customer")
        .map(|c| {
            if parityrail_core::domain::reconcile::is_customer_id(&c) {
                Ok(c)
            } else {
                Err(ApiError::bad_field("customer", "not a Stripe customer id"))
            }
        })
        .transpose()
}

pub struct PageQuery {
    pub limit: u32,
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn from(q: &Query) -> ApiResult<Self> {
        let limit = input::limit(q.get("limit").as_deref())?;
        let cursor = q.get("cursor").filter(|c| !c.is_empty());
        if cursor.as_ref().is_some_and(|c| {
            c.len() > 64 || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        }) {
            return Err(ApiError::bad_field(
                "cursor",
                "not a cursor this API returned",
            ));
        }
        Ok(PageQuery { limit, cursor })
    }

    /// Rows are fetched with `limit + 1` to learn whether another page exists.
    pub fn fetch_limit(&self) -> u32 {
        self.limit + 1
    }

    /// Trims the extra row and returns the cursor for the next page, if any.
    pub fn finish<T>(
        &self,
        mut rows: Vec<T>,
        id: impl Fn(&T) -> String,
    ) -> (Vec<T>, Option<String>) {
        if rows.len() > self.limit as usize {
            rows.truncate(self.limit as usize);
            let next = rows.last().map(id);
            (rows, next)
        } else {
            (rows, None)
        }
    }
}
