//! Outbound webhook endpoints, the event cursor, events, deliveries and their attempts: the
//! statements of `rows::hooks::sql` (SQL as data in the core, each checked there) run through
//! the project's tenant. The sealed secrets are read only by the drain and the rotation; no view
//! carries them.

use crate::auth::scope::{ProjectHandle, Scoped, Tenant};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::fault::Fallible;
use parityrail_core::rows::hooks::sql::{self, Of};
use parityrail_core::rows::hooks::{AttemptRow, DeliveryRow, EndpointRow, EventRow};
use parityrail_core::rows::Query;

fn stmt(pr: &ProjectHandle, (sql, args): Query) -> Fallible<Scoped> {
    pr.tenant().stmt(&sql, args)
}

fn stmts(pr: &ProjectHandle, qs: Vec<Query>) -> Fallible<Vec<Scoped>> {
    qs.into_iter().map(|q| stmt(pr, q)).collect()
}

/// Every endpoint of the project, oldest first.
pub async fn endpoints(pr: &ProjectHandle) -> Fallible<Vec<EndpointRow>> {
    let (sql, args) = sql::endpoints(pr.as_str());
    pr.tenant().all(&sql, args).await
}

pub fn insert_endpoint(pr: &ProjectHandle, e: &EndpointRow) -> Fallible<Scoped> {
    stmt(pr, sql::insert_endpoint(pr.as_str(), e))
}

pub fn update_endpoint(pr: &ProjectHandle, after: &EndpointRow) -> Fallible<Scoped> {
    stmt(pr, sql::update_endpoint(pr.as_str(), after))
}

pub fn failing(pr: &ProjectHandle, id: &str, since: Option<&str>) -> Fallible<Scoped> {
    stmt(pr, sql::failing(pr.as_str(), id, since))
}

pub fn delete_endpoint(pr: &ProjectHandle, id: &str) -> Fallible<Vec<Scoped>> {
    stmts(pr, sql::delete_endpoint(pr.as_str(), id))
}

pub fn disable(pr: &ProjectHandle, id: &str, why: &str, now: &str) -> Fallible<Scoped> {
    stmt(pr, sql::disable(pr.as_str(), id, why, now))
}

pub fn fail(pr: &ProjectHandle, of: Of, id: &str, why: &str, now: &str) -> Fallible<Scoped> {
    stmt(pr, sql::fail(pr.as_str(), of, id, why, now))
}

/// Where the project's event walk stands (the last audit seq it looked at).
pub async fn cursor(pr: &ProjectHandle) -> Fallible<Option<i64>> {
    let (sql, args) = sql::cursor(pr.as_str());
    super::lists::number(pr.tenant(), &sql, args).await
}

pub fn start_cursor(pr: &ProjectHandle, seq: i64) -> Fallible<Scoped> {
    stmt(pr, sql::start_cursor(pr.as_str(), seq))
}

pub fn move_cursor(pr: &ProjectHandle, seq: i64) -> Fallible<Scoped> {
    stmt(pr, sql::move_cursor(pr.as_str(), seq))
}

pub fn insert_event(pr: &ProjectHandle, e: &EventRow, now: &str) -> Fallible<Scoped> {
    stmt(pr, sql::insert_event(pr.as_str(), e, now))
}

pub async fn event(pr: &ProjectHandle, id: &str) -> Fallible<Option<EventRow>> {
    let (sql, args) = sql::event(pr.as_str(), id);
    pr.tenant().first(&sql, args).await
}

pub fn insert_delivery(pr: &ProjectHandle, d: &DeliveryRow) -> Fallible<Scoped> {
    stmt(pr, sql::insert_delivery(pr.as_str(), d))
}

pub async fn due(pr: &ProjectHandle, now: &str, limit: u32) -> Fallible<Vec<DeliveryRow>> {
    let (sql, args) = sql::due(pr.as_str(), now, limit);
    pr.tenant().all(&sql, args).await
}

/// When the first pending delivery is due.
pub async fn next_due(pr: &ProjectHandle) -> Fallible<Option<String>> {
    let (sql, args) = sql::next_due(pr.as_str());
    let rows = super::lists::project_ids(pr.tenant(), &sql, args).await?;
    Ok(rows.into_iter().next())
}

pub async fn deliveries(
    pr: &ProjectHandle,
    endpoint: &str,
    before: Option<(&str, &str)>,
    limit: u32,
) -> Fallible<Vec<DeliveryRow>> {
    let (sql, args) = sql::deliveries(pr.as_str(), endpoint, before, limit);
    pr.tenant().all(&sql, args).await
}

pub async fn delivery(pr: &ProjectHandle, id: &str) -> Fallible<Option<DeliveryRow>> {
    let (sql, args) = sql::delivery(pr.as_str(), id);
    pr.tenant().first(&sql, args).await
}

pub async fn attempts(pr: &ProjectHandle, ids: &[&str]) -> Fallible<Vec<AttemptRow>> {
    let mut out = Vec::new();
    for (sql, args) in sql::attempts(pr.as_str(), ids) {
        out.extend(pr.tenant().all::<AttemptRow>(&sql, args).await?);
    }
    Ok(out)
}

pub fn settle(
    pr: &ProjectHandle,
    d: &DeliveryRow,
    a: &AttemptRow,
    now: &str,
) -> Fallible<Vec<Scoped>> {
    stmts(pr, sql::settle(pr.as_str(), d, a, now))
}

pub async fn projects_with_work(t: &Tenant, now: Timestamp) -> Fallible<Vec<String>> {
    let mut ids = Vec::new();
    for (sql, args) in sql::projects_with_work(&now.to_rfc3339()) {
        ids.extend(super::lists::project_ids(t, &sql, args).await?);
    }
    Ok(ids)
}
