//! Tenant-scoped D1 access. A `Tenant` is the only way handlers and repositories reach D1, and
//! only the auth module can construct one (after authenticating the caller, or after the
//! operator token for bootstrap). Every statement it prepares binds the org id as `?1` and must
//! say `org_id = ?1`, so a query without the tenant predicate cannot be written by accident;
//! a batch refuses statements prepared for another org.

use super::super::repo::Arg;
use crate::clock::within;
use crate::error::OrInternal;
use parityrail_core::api::d1::D1Failure;
use parityrail_core::domain::ids::{OrgId, ProjectId};
use parityrail_core::domain::tenancy::{batch_is_single_tenant, is_tenant_scoped};
use parityrail_core::fault::{Fallible, Fault};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

#[derive(Clone)]
pub struct Tenant {
    db: Arc<D1Database>,
    org: OrgId,
}

/// One project of one tenant: what project-scoped repositories take instead of a project id
/// string. Only `auth` constructs one — after the tenancy check of a caller (`Principal::project`),
/// for a project the caller is creating, or for a system entry point holding a `SystemGrant` —
/// so a repository cannot be handed a project the caller was never resolved to.
#[derive(Clone)]
pub struct ProjectHandle {
    tenant: Tenant,
    id: ProjectId,
}

impl ProjectHandle {
    pub(super) fn new(tenant: Tenant, id: ProjectId) -> Self {
        ProjectHandle { tenant, id }
    }

    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    pub fn id(&self) -> &ProjectId {
        &self.id
    }

    pub fn as_str(&self) -> &str {
        self.id.as_str()
    }
}

/// A statement bound to one org.
pub struct Scoped {
    org: OrgId,
    stmt: D1PreparedStatement,
}

impl Tenant {
    /// Only `auth` constructs tenants.
    pub(super) fn new(db: D1Database, org: OrgId) -> Self {
        Tenant {
            db: Arc::new(db),
            org,
        }
    }

    pub fn org_id(&self) -> &OrgId {
        &self.org
    }

    /// Prepares `sql` with the org id bound as `?1` and `args` as `?2…`. Refuses SQL that does
    /// not constrain (or write) `org_id = ?1`.
    pub fn stmt(&self, sql: &str, args: Vec<Arg>) -> Fallible<Scoped> {
        if !is_tenant_scoped(sql) {
            return Err(Fault::internal(format!("unscoped SQL refused: {sql}")));
        }
        let mut values: Vec<JsValue> = Vec::with_capacity(args.len() + 1);
        values.push(JsValue::from_str(self.org.as_str()));
        values.extend(args.iter().map(crate::repo::to_js));
        let stmt = self.db.prepare(sql).bind(&values).or_internal()?;
        Ok(Scoped {
            org: self.org.clone(),
            stmt,
        })
    }

    pub async fn all<T: DeserializeOwned>(&self, sql: &str, args: Vec<Arg>) -> Fallible<Vec<T>> {
        let s = self.stmt(sql, args)?;
        d1_within(s.stmt.all())
            .await?
            .or_internal()?
            .results::<T>()
            .or_internal()
    }

    pub async fn first<T: DeserializeOwned>(
        &self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Fallible<Option<T>> {
        let s = self.stmt(sql, args)?;
        d1_within(s.stmt.first::<T>(None)).await?.or_internal()
    }

    pub async fn run(&self, sql: &str, args: Vec<Arg>) -> Fallible<()> {
        let s = self.stmt(sql, args)?;
        d1_within(s.stmt.run()).await?.or_internal()?;
        Ok(())
    }

    /// Runs statements as one D1 batch (one transaction: all or nothing).
    pub async fn batch(&self, stmts: Vec<Scoped>) -> Result<Vec<D1Result>, BatchError> {
        if !batch_is_single_tenant(&self.org, stmts.iter().map(|s| &s.org)) {
            return Err(BatchError::CrossTenant);
        }
        let run = self.db.batch(stmts.into_iter().map(|s| s.stmt).collect());
        match within(D1_MS, run).await {
            Some(done) => done.map_err(|e| BatchError::D1(D1Failure::classify(&e.to_string()))),
            // Whether it ran is not known: like a lost connection, never tried again.
            None => Err(BatchError::D1(D1Failure::Lost)),
        }
    }
}

/// The deadline of one D1 query or batch.
const D1_MS: u64 = 30_000;

/// A D1 call's outcome, or a `Fault` when it gave none within `D1_MS`.
pub(crate) async fn d1_within<T>(call: impl std::future::Future<Output = T>) -> Fallible<T> {
    within(D1_MS, call)
        .await
        .ok_or_else(|| Fault::internal("D1 did not answer in time"))
}

#[derive(Debug)]
pub enum BatchError {
    CrossTenant,
    /// D1 refused the batch (classified once, in `api::d1`); nothing of it was applied.
    D1(D1Failure),
}

impl From<BatchError> for Fault {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::CrossTenant => Fault::internal("a batch spanning two orgs was refused"),
            BatchError::D1(f) => Fault::internal(format!("D1 batch failed: {f:?}")),
        }
    }
}

impl From<BatchError> for parityrail_core::api::error::ApiError {
    fn from(e: BatchError) -> Self {
        Fault::from(e).into()
    }
}
