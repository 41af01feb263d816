//! What a call to Stripe can fail with, and why a list walk stopped early.

/// The largest response body the client accepts (8 MiB; a page of 100 objects is far smaller).
/// `HttpGet` implementations stop reading past it; the client refuses anything longer.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    #[error("Stripe could not be reached")]
    Unreachable,
    #[error("Stripe did not answer in time")]
    Timeout,
    #[error("Stripe rejected the API key")]
    Unauthorized,
    #[error("the API key lacks a permission this read needs")]
    Forbidden,
    #[error("Stripe kept rate limiting the requests")]
    RateLimited,
    #[error("Stripe answered with a server error ({0})")]
    Server(u16),
    #[error("Stripe refused the request ({0})")]
    Client(u16),
    #[error("Stripe sent a response that is not the expected JSON")]
    Malformed,
    #[error("Stripe sent a response larger than {} bytes", MAX_BODY_BYTES)]
    TooLarge,
    #[error("Stripe's list could not be read to its end: {0}")]
    Pagination(PaginationFault),
}

impl StripeError {
    /// Worth another attempt: the same request may succeed later.
    /// The stable code of the failure (its message is its `Display`).
    pub fn code(self) -> &'static str {
        match self {
            StripeError::Unauthorized => "stripe_key_rejected",
            StripeError::Forbidden => "stripe_permission_missing",
            StripeError::Unreachable => "stripe_unreachable",
            StripeError::Timeout | StripeError::Pagination(PaginationFault::TooSlow) => {
                "stripe_timeout"
            }
            StripeError::RateLimited => "stripe_rate_limited",
            StripeError::Server(_) | StripeError::Client(_) => "stripe_error",
            StripeError::Malformed | StripeError::TooLarge | StripeError::Pagination(_) => {
                "stripe_bad_response"
            }
        }
    }

    pub(super) fn is_transient(self) -> bool {
        matches!(
            self,
            StripeError::Unreachable
                | StripeError::Timeout
                | StripeError::RateLimited
                | StripeError::Server(_)
        )
    }
}

/// Why a list walk stopped before Stripe said the list ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PaginationFault {
    /// `has_more` with an empty page, or a cursor the walk had already used.
    #[error("the cursor did not advance")]
    Stalled,
    /// The walk read its page cap (`MAX_PAGES` unless lowered) and the list went on.
    #[error("the list went on past the page cap")]
    PageCap,
    /// The walk read more response bytes than one walk may hold (`WalkBudget::max_bytes`).
    #[error("the list is larger than one walk may read")]
    TooMuchData,
    /// The walk took longer than one walk may take (`WalkBudget::max_ms`).
    #[error("the list took longer to read than one walk may take")]
    TooSlow,
}
