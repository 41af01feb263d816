//! The query string of a request (SPEC §14): one parameter's value, and what a list request
//! reads of it — `limit` and `cursor` (a cursor is only ever one this API returned: at most 64
//! characters of `[A-Za-z0-9_]`), trimming a page fetched one row long into the page and the
//! next cursor, and the `?customer=` filter (a Stripe customer id).

use crate::domain::input::{self, InputError};
use crate::domain::reconcile::is_customer_id;

/// The value of query parameter `name` in `query` (the URI's part after `?`), decoded as a
/// form; the first when it repeats.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The `?customer=` filter of a list: a Stripe customer id, or an invalid field (`400`).
pub fn customer_filter(query: Option<&str>) -> Result<Option<String>, InputError> {
    query_param(query, "customer")
        .map(|c| {
            if is_customer_id(&c) {
                Ok(c)
            } else {
                Err(InputError::field("customer", "not a Stripe customer id"))
            }
        })
        .transpose()
}

/// `limit` and `cursor` of a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    pub limit: u32,
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page `query` asks for; a `limit` out of range or a cursor this API never returned
    /// is `400`. An empty cursor is none.
    pub fn of(query: Option<&str>) -> Result<Self, InputError> {
        let limit = input::limit(query_param(query, "limit").as_deref())?;
        let cursor = query_param(query, "cursor").filter(|c| !c.is_empty());
        if cursor.as_ref().is_some_and(|c| {
            c.len() > 64 || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        }) {
            return Err(InputError::field(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_is_decoded_and_the_first_of_repeats() {
        assert_eq!(query_param(Some("limit=5"), "limit").as_deref(), Some("5"));
        assert_eq!(
            query_param(Some("a=x%20y&a=z"), "a").as_deref(),
            Some("x y")
        );
        assert_eq!(query_param(Some(""), "limit"), None);
        assert_eq!(query_param(None, "limit"), None);
    }

    #[test]
    fn a_page_takes_a_limit_in_range_and_only_cursors_this_api_returns() {
        let p = PageQuery::of(Some("limit=2&cursor=key_abc")).unwrap();
        assert_eq!(
            p,
            PageQuery {
                limit: 2,
                cursor: Some("key_abc".into())
            }
        );
        assert_eq!(p.fetch_limit(), 3);
        assert_eq!(PageQuery::of(Some("cursor=")).unwrap().cursor, None);
        let default = PageQuery::of(None).unwrap();
        assert_eq!(default.limit, input::limit(None).unwrap());
        for bad in [
            "cursor=a-b",
            "cursor=a%27",
            &format!("cursor={}", "a".repeat(65)),
        ] {
            assert!(PageQuery::of(Some(bad)).is_err(), "{bad}");
        }
        assert!(PageQuery::of(Some(&format!("cursor={}", "a".repeat(64)))).is_ok());
        assert!(PageQuery::of(Some("limit=0")).is_err());
        assert!(PageQuery::of(Some("limit=x")).is_err());
    }

    #[test]
    fn a_page_fetched_one_row_long_has_a_next_cursor() {
        let p = PageQuery::of(Some("limit=2")).unwrap();
        let id = |n: &u32| n.to_string();
        assert_eq!(p.finish(vec![1, 2, 3], id), (vec![1, 2], Some("2".into())));
        assert_eq!(p.finish(vec![1, 2], id), (vec![1, 2], None));
        assert_eq!(p.finish(Vec::new(), id), (Vec::new(), None));
    }

    #[test]
    fn the_customer_filter_takes_only_a_stripe_customer_id() {
        assert_eq!(
            customer_filter(Some("customer=cus_Abc123"))
                .unwrap()
                .as_deref(),
            Some("cus_Abc123")
        );
        assert_eq!(customer_filter(Some("limit=1")).unwrap(), None);
        assert!(customer_filter(Some("customer=cus-1")).is_err());
        assert!(customer_filter(Some("customer=")).is_err());
    }
}
