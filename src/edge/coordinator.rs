//! `ProjectCoordinator` Durable Object, one per project (named by project id). It will be the
//! single writer for that project's repair approvals and drive chunked reconcile runs (SPEC §6,
//! §8). Until those capabilities land it only answers that nothing is routed to it yet.

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct ProjectCoordinator {
    _state: State,
}

impl DurableObject for ProjectCoordinator {
    fn new(state: State, _env: Env) -> Self {
        Self { _state: state }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error("no coordinator operation is routed here yet", 404)
    }
}
