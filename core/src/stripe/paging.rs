//! The rules every list walk follows, kept apart from the network so they are tested alone. A
//! walk ends only when Stripe says the list ends (`has_more: false`); it fails with
//! `StripeError::Pagination` when it could not advance (a page with `has_more: true` and no
//! data, or a cursor already used) or when it reaches the page cap. No walk loops forever, and
//! none stops early while Stripe says there is more.

use super::error::{PaginationFault, StripeError};
use super::model::{HasId, List};
use std::collections::HashSet;

/// Pages one list walk may read before it fails with `PaginationFault::PageCap`: 1,000,000
/// objects at `limit=100`.
pub const MAX_PAGES: u32 = 10_000;

/// The cursor for the page after `list`: `None` when the list ends, an error when Stripe says
/// there is more but gave no object to continue after.
pub(crate) fn next_cursor<T: HasId>(list: &List<T>) -> Result<Option<String>, StripeError> {
    if !list.has_more {
        return Ok(None);
    }
    match list.data.last() {
        Some(x) => Ok(Some(x.id().to_owned())),
        None => Err(StripeError::Pagination(PaginationFault::Stalled)),
    }
}

/// The cursors one walk has used and the pages it has read.
pub(crate) struct Cursors {
    seen: HashSet<String>,
    pages: u32,
    cap: u32,
}

impl Cursors {
    /// A walk that may read `cap` pages (at least one), starting after `start` when given.
    pub(crate) fn new(cap: u32, start: Option<&str>) -> Self {
        Cursors {
            seen: start.map(str::to_owned).into_iter().collect(),
            pages: 0,
            cap: cap.max(1),
        }
    }

    /// Records one page read and its `next` cursor. `Ok(None)`: the list has ended;
    /// `Ok(Some(c))`: read the page after `c`; an error when `c` was used before or the cap is
    /// reached.
    pub(crate) fn advance(&mut self, next: Option<String>) -> Result<Option<String>, StripeError> {
        self.pages = self.pages.saturating_add(1);
        let Some(next) = next else {
            return Ok(None);
        };
        if self.seen.contains(&next) {
            return Err(StripeError::Pagination(PaginationFault::Stalled));
        }
        if self.pages >= self.cap {
            return Err(StripeError::Pagination(PaginationFault::PageCap));
        }
        self.seen.insert(next.clone());
        Ok(Some(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::model::Customer;

    fn list(ids: &[&str], has_more: bool) -> List<Customer> {
        List {
            data: ids
                .iter()
                .map(|id| Customer {
                    id: (*id).to_owned(),
                    email: None,
                    deleted: false,
                })
                .collect(),
            has_more,
        }
    }

    const STALLED: StripeError = StripeError::Pagination(PaginationFault::Stalled);
    const CAPPED: StripeError = StripeError::Pagination(PaginationFault::PageCap);

    #[test]
    fn the_next_cursor_is_the_last_id_only_while_stripe_says_there_is_more() {
        assert_eq!(next_cursor(&list(&["a", "b"], true)), Ok(Some("b".into())));
        assert_eq!(next_cursor(&list(&["a", "b"], false)), Ok(None));
        assert_eq!(next_cursor(&list(&[], false)), Ok(None));
    }

    #[test]
    fn an_empty_page_that_claims_more_is_a_stall_not_the_end() {
        assert_eq!(next_cursor(&list(&[], true)), Err(STALLED));
    }

    #[test]
    fn a_cursor_used_before_stops_the_walk() {
        let mut c = Cursors::new(MAX_PAGES, None);
        assert_eq!(c.advance(Some("a".into())), Ok(Some("a".into())));
        assert_eq!(c.advance(Some("b".into())), Ok(Some("b".into())));
        assert_eq!(c.advance(Some("a".into())), Err(STALLED));
        let mut c = Cursors::new(MAX_PAGES, Some("s"));
        assert_eq!(c.advance(Some("s".into())), Err(STALLED));
    }

    #[test]
    fn the_walk_reads_at_most_the_cap_in_pages() {
        let mut c = Cursors::new(3, None);
        assert_eq!(c.advance(Some("1".into())), Ok(Some("1".into())));
        assert_eq!(c.advance(Some("2".into())), Ok(Some("2".into())));
        assert_eq!(c.advance(Some("3".into())), Err(CAPPED));
        let mut c = Cursors::new(3, None);
        c.advance(Some("1".into())).unwrap();
        c.advance(Some("2".into())).unwrap();
        assert_eq!(c.advance(None), Ok(None), "a list of exactly the cap ends");
    }

    #[test]
    fn a_cap_of_zero_still_reads_one_page() {
        assert_eq!(Cursors::new(0, None).advance(None), Ok(None));
        assert_eq!(Cursors::new(0, None).advance(Some("a".into())), Err(CAPPED));
    }
}
