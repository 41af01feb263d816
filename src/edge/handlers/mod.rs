//! HTTP handlers, one file per resource. Each starts from an authenticated `Principal` (or the
//! operator grant), checks tenancy and role first, and leaves HTTP statuses to `error`.

pub mod audit;
pub mod integrations;
pub mod keys;
pub mod members;
pub mod meta;
pub mod operator;
pub mod org;
pub mod projects;

use super::error::{ApiError, ApiResult};
use super::http::query_param;
use crate::domain::input;
use worker::Request;

/// `limit` and `cursor` of a list request.
pub struct PageQuery {
    pub limit: u32,
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn from(req: &Request) -> ApiResult<Self> {
        let limit = input::limit(query_param(req, "limit").as_deref())?;
        let cursor = query_param(req, "cursor").filter(|c| !c.is_empty());
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
