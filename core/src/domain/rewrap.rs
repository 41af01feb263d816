//! The credential re-wrap pass (SPEC §3) as a state machine over small ports, so its walk is
//! tested natively: org by org, credential by credential in id order, at most `budget`
//! credentials looked at per run (failures included), the position saved after every page so
//! the next run continues where this one stopped; a credential or an org that fails is reported
//! and passed over, never blocking the rest; after a full pass the position resets.

use super::store::StoreError;

/// What the pass needs from the platform (D1 and the vault at the edge; a fake in tests).
#[allow(async_fn_in_trait)]
pub trait RewrapPorts {
    /// Org ids after `after`, in order, at most `limit`.
    async fn orgs_after(&self, after: &str, limit: u32) -> Result<Vec<String>, StoreError>;
    /// Ids of `org`'s credentials that need re-sealing, after `after_id`, in order, at most `limit`.
    async fn stale(&self, org: &str, after_id: &str, limit: u32)
        -> Result<Vec<String>, StoreError>;
    /// Re-seals one credential (audited); `Ok(false)` when there was nothing left to do.
    async fn rewrap(&self, org: &str, credential: &str) -> Result<bool, StoreError>;
    /// The saved position (`org|credential`), "" for the start.
    async fn position(&self) -> Result<String, StoreError>;
    async fn save_position(&self, position: &str) -> Result<(), StoreError>;
    /// A credential (`Some`) or a whole org (`None`) that failed; the pass goes on.
    fn failed(&self, org: &str, credential: Option<&str>, error: &StoreError);
}

/// How much one run may do.
#[derive(Debug, Clone, Copy)]
pub struct RewrapLimits {
    pub page_size: u32,
    pub budget: u32,
    pub orgs_per_page: u32,
}

/// One run of the pass; returns how many credentials it re-sealed.
pub async fn rewrap_run<P: RewrapPorts>(
    ports: &P,
    limits: RewrapLimits,
) -> Result<u32, StoreError> {
    let mut run = Run {
        ports,
        limits,
        budget: limits.budget,
        done: 0,
    };
    let saved = ports.position().await?;
    let mut org_after = String::new();
    if let Some((org, credential)) = saved.split_once('|').filter(|(o, _)| !o.is_empty()) {
        if !run.org(org, credential.to_owned()).await? {
            return Ok(run.done);
        }
        org_after = org.to_owned();
    }
    loop {
        let orgs = ports.orgs_after(&org_after, limits.orgs_per_page).await?;
        let Some(last) = orgs.last() else {
            ports.save_position("").await?;
            return Ok(run.done);
        };
        org_after.clone_from(last);
        for org in &orgs {
            if !run.org(org, String::new()).await? {
                return Ok(run.done);
            }
        }
    }
}

struct Run<'a, P> {
    ports: &'a P,
    limits: RewrapLimits,
    budget: u32,
    done: u32,
}

impl<P: RewrapPorts> Run<'_, P> {
    /// Walks one org after `cursor`; `false` once the run's budget is spent.
    async fn org(&mut self, org: &str, mut cursor: String) -> Result<bool, StoreError> {
        loop {
            if self.budget == 0 {
                return Ok(false);
            }
            let limit = self.limits.page_size.max(1).min(self.budget);
            let page = match self.ports.stale(org, &cursor, limit).await {
                Ok(page) => page,
                Err(e) => {
                    self.ports.failed(org, None, &e);
                    return Ok(true);
                }
            };
            let Some(last) = page.last() else {
                return Ok(true);
            };
            cursor.clone_from(last);
            self.budget = self.budget.saturating_sub(page.len() as u32);
            for credential in &page {
                match self.ports.rewrap(org, credential).await {
                    Ok(true) => self.done += 1,
                    Ok(false) => {}
                    Err(e) => self.ports.failed(org, Some(credential), &e),
                }
            }
            self.ports.save_position(&format!("{org}|{cursor}")).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};

    /// Orgs with their stale credential ids; `broken` credentials always fail, `broken_orgs`
    /// fail to list.
    #[derive(Default)]
    struct Fake {
        stale: RefCell<BTreeMap<String, BTreeSet<String>>>,
        broken: BTreeSet<String>,
        broken_orgs: BTreeSet<String>,
        position: RefCell<String>,
        failures: RefCell<Vec<String>>,
        rewraps: RefCell<Vec<String>>,
    }

    impl Fake {
        fn with(orgs: &[(&str, &[&str])]) -> Self {
            let f = Fake::default();
            for (org, creds) in orgs {
                f.stale.borrow_mut().insert(
                    (*org).to_owned(),
                    creds.iter().map(|c| (*c).to_owned()).collect(),
                );
            }
            f
        }
    }

    impl RewrapPorts for Fake {
        async fn orgs_after(&self, after: &str, limit: u32) -> Result<Vec<String>, StoreError> {
            Ok(self
                .stale
                .borrow()
                .keys()
                .filter(|o| o.as_str() > after)
                .take(limit as usize)
                .cloned()
                .collect())
        }
        async fn stale(
            &self,
            org: &str,
            after_id: &str,
            limit: u32,
        ) -> Result<Vec<String>, StoreError> {
            if self.broken_orgs.contains(org) {
                return Err(StoreError::Failed("org unreadable".into()));
            }
            Ok(self
                .stale
                .borrow()
                .get(org)
                .map(|c| {
                    c.iter()
                        .filter(|id| id.as_str() > after_id)
                        .take(limit as usize)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default())
        }
        async fn rewrap(&self, org: &str, credential: &str) -> Result<bool, StoreError> {
            if self.broken.contains(credential) {
                return Err(StoreError::Failed("does not open".into()));
            }
            self.rewraps.borrow_mut().push(credential.to_owned());
            Ok(self
                .stale
                .borrow_mut()
                .get_mut(org)
                .is_some_and(|c| c.remove(credential)))
        }
        async fn position(&self) -> Result<String, StoreError> {
            Ok(self.position.borrow().clone())
        }
        async fn save_position(&self, position: &str) -> Result<(), StoreError> {
            *self.position.borrow_mut() = position.to_owned();
            Ok(())
        }
        fn failed(&self, org: &str, credential: Option<&str>, _: &StoreError) {
            self.failures
                .borrow_mut()
                .push(credential.unwrap_or(org).to_owned());
        }
    }

    const ONE_AT_A_TIME: RewrapLimits = RewrapLimits {
        page_size: 1,
        budget: 1,
        orgs_per_page: 10,
    };
    const PLENTY: RewrapLimits = RewrapLimits {
        page_size: 2,
        budget: 1000,
        orgs_per_page: 1,
    };

    #[tokio::test]
    async fn a_failing_credential_never_blocks_the_ones_after_it_across_runs() {
        let mut f = Fake::with(&[("org_a", &["c1", "c2", "c3"])]);
        f.broken.insert("c1".into());
        for _ in 0..3 {
            rewrap_run(&f, ONE_AT_A_TIME).await.unwrap_or_default();
        }
        assert_eq!(f.rewraps.borrow().as_slice(), &["c2", "c3"]);
        assert_eq!(f.failures.borrow().as_slice(), &["c1"]);
        assert_eq!(f.position.borrow().as_str(), "org_a|c3");
        // The next run finds the end of the pass and starts over.
        rewrap_run(&f, ONE_AT_A_TIME).await.unwrap_or_default();
        assert_eq!(f.position.borrow().as_str(), "");
    }

    #[tokio::test]
    async fn one_run_walks_every_org_within_its_budget_and_skips_an_unreadable_org() {
        let mut f = Fake::with(&[
            ("org_a", &["a1", "a2", "a3"]),
            ("org_b", &["b1"]),
            ("org_c", &["c1", "c2"]),
        ]);
        f.broken_orgs.insert("org_b".into());
        assert_eq!(rewrap_run(&f, PLENTY).await, Ok(5));
        assert_eq!(f.failures.borrow().as_slice(), &["org_b"]);
        assert_eq!(f.position.borrow().as_str(), "");
    }

    #[tokio::test]
    async fn the_budget_counts_failures_and_the_next_run_resumes_mid_org() {
        let mut f = Fake::with(&[("org_a", &["a1", "a2", "a3", "a4"])]);
        f.broken.insert("a1".into());
        let limits = RewrapLimits {
            page_size: 2,
            budget: 2,
            orgs_per_page: 10,
        };
        assert_eq!(rewrap_run(&f, limits).await, Ok(1));
        assert_eq!(f.position.borrow().as_str(), "org_a|a2");
        assert_eq!(rewrap_run(&f, limits).await, Ok(2));
        assert_eq!(f.rewraps.borrow().as_slice(), &["a2", "a3", "a4"]);
    }

    #[tokio::test]
    async fn a_position_that_does_not_parse_starts_the_pass_over() {
        let f = Fake::with(&[("org_a", &["a1"])]);
        *f.position.borrow_mut() = "garbage".into();
        assert_eq!(rewrap_run(&f, PLENTY).await, Ok(1));
    }
}
