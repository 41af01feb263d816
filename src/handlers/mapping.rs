//! The project's mapping (SPEC §5, §15). `PUT` validates it (a `400` naming the field), then
//! checks it against the live app table through the read connection (table and columns exist,
//! types fit), and stores it audited as `mapping.updated`.

use crate::audit::retrying_in;
use crate::auth::extract::InProject;
use crate::auth::limits::probe_limit;
use crate::http::{json, App, RawBody};
use crate::project_io;
use crate::repo;
use axum::extract::State;
use axum::response::Response;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::append::Step;
use parityrail_core::domain::audit::{Action, Draft};
use parityrail_core::domain::mapping::MappingInput;
use serde_json::{json, Value};

/// PUT /v1/projects/{pid}/mapping
#[worker::send]
pub async fn put(State(app): State<App>, ip: InProject, body: RawBody) -> ApiResult<Response> {
    let (svc, p, scope) = (&app.svc, &ip.p, &ip.project);
    let pr = scope.handle();
    let input: MappingInput = body.json()?;
    let m = input.validate()?;
    // The live check connects to the customer's database: limited like the connection test.
    probe_limit(svc, scope.handle()).await?;
    let env = scope.row.environment;
    let session = project_io::read_session(svc, pr, env)
        .await?
        .map_err(parityrail_core::fault::Fault::from)?;
    let found = session
        .table_columns(&m.table)
        .await
        .map_err(parityrail_core::fault::Fault::from)?;
    if let Err(problems) = m.check_columns(&found) {
        let message = problems
            .iter()
            .map(|p| p.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let mut err = ApiError::new(400, "mapping_mismatch", message);
        err.field = problems.first().map(|p| p.field.clone());
        return Err(err);
    }
    let at = svc.now.to_rfc3339();
    let after = m.to_json();
    retrying_in(p, scope, svc.now, || async {
        let before = repo::mappings::get(pr)
            .await?
            .map_or(Value::Null, |(b, _)| b.to_json());
        let draft = Draft::new(
            p.actor(),
            Action::MappingUpdated,
            format!("project:{}", pr.as_str()),
            before,
            after.clone(),
        );
        Ok(Step::commit(
            vec![draft],
            vec![repo::mappings::put(pr, &m, &at)?],
            (),
        ))
    })
    .await?;
    // Webhook checks that waited for a mapping may succeed now.
    repo::webhooks::due_now(pr, svc.now).await?;
    json(
        200,
        &json!({"mapping": after, "repair_columns": repair_columns(&m), "updated_at": at}),
    )
}

fn repair_columns(m: &parityrail_core::domain::mapping::Mapping) -> Vec<&str> {
    m.repair_columns().into_iter().map(|c| c.as_str()).collect()
}

/// GET /v1/projects/{pid}/mapping
#[worker::send]
pub async fn get(ip: InProject) -> ApiResult<Response> {
    let (m, at) = repo::mappings::get(ip.project.handle())
        .await?
        .ok_or_else(|| ApiError::not_found("mapping"))?;
    json(
        200,
        &json!({"mapping": m.to_json(), "repair_columns": repair_columns(&m), "updated_at": at}),
    )
}
