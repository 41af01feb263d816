//! What a run learned from Stripe (subscription facts, customer ids, product features, the
//! cursors each listing phase was handed), kept in the coordinator's SQLite storage by run id
//! (the tables are `storage`'s schema), and the notes of the step in progress.

use crate::error::OrInternal;
use parityrail_core::domain::reconcile::{ProductFeatures, StripeCustomer, SubFacts};
use parityrail_core::domain::runs::Phase;
use parityrail_core::fault::{Fallible, Fault};
use serde::Deserialize;
use std::collections::BTreeMap;
use worker::{SqlStorage, SqlStorageValue};

/// What a run learned from Stripe, keyed by run id, and the notes (non-fatal errors) of the
/// current step.
pub struct Facts {
    sql: SqlStorage,
    notes: std::cell::RefCell<Vec<String>>,
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

#[derive(Deserialize)]
struct SubRow {
    customer: String,
    facts: String,
}

#[derive(Deserialize)]
struct FeatureRow {
    id: String,
    features: Option<String>,
}

fn text(s: &str) -> SqlStorageValue {
    SqlStorageValue::String(s.to_owned())
}

impl Facts {
    /// What is kept in `sql` (whose tables `storage::Storage::open` made).
    pub fn new(sql: SqlStorage) -> Self {
        Facts {
            sql,
            notes: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Forgets what run `run` learned (it ended).
    pub fn forget_run(&self, run: &str) -> worker::Result<()> {
        for table in ["subs", "customers", "products", "cursors"] {
            self.sql.exec(
                &format!("DELETE FROM {table} WHERE run = ?"),
                vec![text(run)],
            )?;
        }
        Ok(())
    }

    /// Records that `phase` of `run` was handed `cursor`; `true` when it was handed it before
    /// (a Stripe list going round in circles).
    pub(crate) fn cursor_repeats(&self, run: &str, phase: Phase, cursor: &str) -> Fallible<bool> {
        let seen: Vec<IdRow> = self
            .sql
            .exec(
                "SELECT cursor AS id FROM cursors WHERE run = ? AND phase = ? AND cursor = ?",
                vec![text(run), text(phase.as_str()), text(cursor)],
            )
            .or_internal()?
            .to_array()
            .or_internal()?;
        if !seen.is_empty() {
            return Ok(true);
        }
        self.sql
            .exec(
                "INSERT INTO cursors (run, phase, cursor) VALUES (?, ?, ?)",
                vec![text(run), text(phase.as_str()), text(cursor)],
            )
            .or_internal()?;
        Ok(false)
    }

    pub(crate) fn cursor_count(&self, run: &str, phase: Phase) -> Fallible<usize> {
        #[derive(Deserialize)]
        struct N {
            n: i64,
        }
        let rows: Vec<N> = self
            .sql
            .exec(
                "SELECT count(*) AS n FROM cursors WHERE run = ? AND phase = ?",
                vec![text(run), text(phase.as_str())],
            )
            .or_internal()?
            .to_array()
            .or_internal()?;
        Ok(rows.first().map_or(0, |r| r.n.max(0) as usize))
    }

    /// Forgets everything but `keep`'s facts (a new run starts, or a run ended).
    pub fn forget_except(&self, keep: &str) -> worker::Result<()> {
        for table in ["subs", "customers", "products", "cursors"] {
            self.sql.exec(
                &format!("DELETE FROM {table} WHERE run != ?"),
                vec![text(keep)],
            )?;
        }
        Ok(())
    }

    /// `true` the first time `name` is asked for in this object (then remembered); for the
    /// e2e build's fault hooks.
    #[cfg(feature = "fault-hooks")]
    pub(crate) fn first_time(&self, name: &str) -> Fallible<bool> {
        self.sql
            .exec(
                "CREATE TABLE IF NOT EXISTS once (name TEXT PRIMARY KEY)",
                None,
            )
            .or_internal()?;
        let seen: Vec<IdRow> = self
            .sql
            .exec(
                "SELECT name AS id FROM once WHERE name = ?",
                vec![text(name)],
            )
            .or_internal()?
            .to_array()
            .or_internal()?;
        if !seen.is_empty() {
            return Ok(false);
        }
        self.sql
            .exec("INSERT INTO once (name) VALUES (?)", vec![text(name)])
            .or_internal()?;
        Ok(true)
    }

    pub(crate) fn note(&self, message: String) {
        let mut notes = self.notes.borrow_mut();
        if !notes.contains(&message) {
            notes.push(message);
        }
    }

    pub(crate) fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.borrow_mut())
    }

    pub(crate) fn put_subscriptions(
        &self,
        run: &str,
        subs: &[parityrail_core::stripe::model::Subscription],
    ) -> Fallible<()> {
        for s in subs {
            let f = s.facts();
            let json = serde_json::to_string(&f).map_err(|e| Fault::internal(e.to_string()))?;
            self.sql
                .exec(
                    "INSERT OR REPLACE INTO subs (run, id, customer, facts) VALUES (?, ?, ?, ?)",
                    vec![text(run), text(&s.id), text(s.customer.id()), text(&json)],
                )
                .or_internal()?;
            for product in f.items.iter().filter_map(|i| i.product.as_deref()) {
                self.sql
                    .exec(
                        "INSERT OR IGNORE INTO products (run, id, features) VALUES (?, ?, NULL)",
                        vec![text(run), text(product)],
                    )
                    .or_internal()?;
            }
        }
        Ok(())
    }

    pub(crate) fn put_customers(&self, run: &str, ids: &[&str]) -> Fallible<()> {
        for id in ids {
            self.sql
                .exec(
                    "INSERT OR IGNORE INTO customers (run, id) VALUES (?, ?)",
                    vec![text(run), text(id)],
                )
                .or_internal()?;
        }
        Ok(())
    }

    pub(crate) fn product_after(&self, run: &str, after: &str) -> Fallible<Option<String>> {
        let rows: Vec<IdRow> = self
            .sql
            .exec(
                "SELECT id FROM products WHERE run = ? AND id > ? ORDER BY id LIMIT 1",
                vec![text(run), text(after)],
            )
            .or_internal()?
            .to_array()
            .or_internal()?;
        Ok(rows.into_iter().next().map(|r| r.id))
    }

    pub(crate) fn put_features(&self, run: &str, product: &str, keys: &[String]) -> Fallible<()> {
        let json = serde_json::to_string(keys).map_err(|e| Fault::internal(e.to_string()))?;
        self.sql
            .exec(
                "UPDATE products SET features = ? WHERE run = ? AND id = ?",
                vec![text(&json), text(run), text(product)],
            )
            .or_internal()?;
        Ok(())
    }

    pub(crate) fn features(&self, run: &str) -> Fallible<ProductFeatures> {
        let rows: Vec<FeatureRow> = self
            .sql
            .exec(
                "SELECT id, features FROM products WHERE run = ?",
                vec![text(run)],
            )
            .or_internal()?
            .to_array()
            .or_internal()?;
        let mut out = ProductFeatures::new();
        for r in rows {
            let keys: Vec<String> = match r.features {
                Some(f) => serde_json::from_str(&f).map_err(|e| Fault::internal(e.to_string()))?,
                None => Vec::new(),
            };
            out.insert(r.id, keys.into_iter().collect());
        }
        Ok(out)
    }

    /// Up to `limit` customer ids after `after`, in byte order.
    pub(crate) fn customers_after(
        &self,
        run: &str,
        after: &str,
        limit: u32,
    ) -> Fallible<Vec<String>> {
        let rows: Vec<IdRow> = self
            .sql
            .exec(
                "SELECT id FROM customers WHERE run = ? AND id > ? ORDER BY id LIMIT ?",
                vec![
                    text(run),
                    text(after),
                    SqlStorageValue::Integer(i64::from(limit)),
                ],
            )
            .or_internal()?
            .to_array()
            .or_internal()?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// The customers among `ids` that `keep` accepts, with their subscriptions.
    pub(crate) fn stripe_customers(
        &self,
        run: &str,
        ids: &[String],
        keep: impl Fn(&str) -> bool,
    ) -> Fallible<BTreeMap<String, StripeCustomer>> {
        let mut out: BTreeMap<String, StripeCustomer> = ids
            .iter()
            .filter(|c| keep(c))
            .map(|c| (c.clone(), StripeCustomer::default()))
            .collect();
        let (Some(first), Some(last)) = (out.keys().next().cloned(), out.keys().last().cloned())
        else {
            return Ok(out);
        };
        let rows: Vec<SubRow> = self
            .sql
            .exec(
                "SELECT customer, facts FROM subs WHERE run = ? AND customer >= ? AND customer <= ? \
                 ORDER BY customer, id",
                vec![text(run), text(&first), text(&last)],
            ).or_internal()?
            .to_array().or_internal()?;
        for r in rows {
            if let Some(c) = out.get_mut(&r.customer) {
                let f: SubFacts =
                    serde_json::from_str(&r.facts).map_err(|e| Fault::internal(e.to_string()))?;
                c.subscriptions.push(f);
            }
        }
        Ok(out)
    }
}
