use super::*;
use crate::api::routes::Method;

/// Every bound route is a `GET`: no tool can change anything, whatever the key may do.
fn read_only() -> bool {
    BINDINGS.iter().all(|b| {
        b.route.spec().method == Method::GET
            && b.by_id.is_none_or(|(_, r)| r.spec().method == Method::GET)
    })
}

use serde_json::json;

const PID: &str = "prj_0123456789abcdefABCDEF";
const IID: &str = "inc_0123456789abcdefABCDEF";
const RID: &str = "run_0123456789abcdefABCDEF";

fn args(v: Value) -> Option<Value> {
    Some(v)
}

#[test]
fn every_tool_is_described_and_bound_once_to_a_get_route() {
    let names: Vec<&str> = tools().iter().filter_map(|t| t["name"].as_str()).collect();
    let bound: Vec<&str> = BINDINGS.iter().map(|b| b.tool).collect();
    assert_eq!(names, bound);
    assert!(read_only());
    for b in BINDINGS {
        for r in [Some(b.route), b.by_id.map(|(_, r)| r)]
            .into_iter()
            .flatten()
        {
            assert_eq!(
                r.spec().guard,
                crate::api::routes::Guard::Key(crate::domain::roles::Need::Read),
                "{}",
                b.tool
            );
        }
    }
    for t in tools() {
        for field in ["name", "title", "description"] {
            assert!(t[field].as_str().is_some_and(|s| !s.is_empty()), "{t}");
        }
        assert_eq!(t["annotations"]["readOnlyHint"], true);
        assert_eq!(t["inputSchema"]["type"], "object");
        assert_eq!(t["inputSchema"]["additionalProperties"], false);
        assert_eq!(t["outputSchema"]["type"], "object");
    }
}

#[test]
fn every_schema_keyword_and_pattern_is_one_the_validator_implements() {
    for t in tools() {
        let props = t["inputSchema"]["properties"].as_object().unwrap();
        for (name, p) in props {
            for key in p.as_object().unwrap().keys() {
                assert!(
                    [
                        "type",
                        "enum",
                        "maxLength",
                        "pattern",
                        "minimum",
                        "maximum",
                        "description"
                    ]
                    .contains(&key.as_str()),
                    "{name}: {key}"
                );
            }
            if let Some(pat) = p["pattern"].as_str() {
                assert!(PATTERNS.iter().any(|(p, _)| *p == pat), "{pat}");
            }
        }
        let b = BINDINGS.iter().find(|b| b.tool == t["name"]).unwrap();
        for q in b.query {
            assert!(props.contains_key(*q), "{q}");
        }
    }
}

#[test]
fn the_kind_enum_is_every_incident_kind() {
    let t = tools()
        .iter()
        .find(|t| t["name"] == "list_incidents")
        .unwrap();
    let kinds: Vec<&str> = t["inputSchema"]["properties"]["kind"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let all: Vec<&str> = crate::domain::reconcile::IncidentKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(kinds, all);
}

#[test]
fn a_call_binds_path_and_query() {
    let c = call(
        "list_incidents",
        args(json!({"project_id": PID, "status": "open", "customer": "cus_A1", "limit": 5}))
            .as_ref(),
    )
    .unwrap();
    assert_eq!(c.route, Route::IncidentsList);
    assert_eq!(c.project.as_ref().map(|p| p.as_str()), Some(PID));
    assert_eq!(c.id, None);
    assert_eq!(c.query, "status=open&customer=cus_A1&limit=5");

    let c = call(
        "get_incident",
        args(json!({"project_id": PID, "incident_id": IID})).as_ref(),
    )
    .unwrap();
    assert_eq!((c.route, c.id.as_deref()), (Route::IncidentsGet, Some(IID)));

    let c = call(
        "customer_ledger",
        args(json!({"project_id": PID, "customer_id": "cus_9"})).as_ref(),
    )
    .unwrap();
    assert_eq!(
        (c.route, c.id.as_deref()),
        (Route::CustomersLedger, Some("cus_9"))
    );

    let c = call("list_projects", None).unwrap();
    assert_eq!((c.route, c.project.is_none()), (Route::ProjectsList, true));
}

#[test]
fn run_status_is_the_latest_run_or_the_named_one() {
    let latest = call("run_status", args(json!({"project_id": PID})).as_ref()).unwrap();
    assert_eq!(
        (latest.route, latest.query.as_str()),
        (Route::RunsList, "limit=1")
    );
    let named = call(
        "run_status",
        args(json!({"project_id": PID, "run_id": RID})).as_ref(),
    )
    .unwrap();
    assert_eq!(
        (named.route, named.id.as_deref()),
        (Route::RunsGet, Some(RID))
    );

    let run = json!({"id": RID, "status": "running"});
    assert_eq!(
        shape(
            Shape::Run,
            Route::RunsList,
            json!({"data": [run.clone()], "next_cursor": null})
        ),
        json!({"run": run})
    );
    assert_eq!(
        shape(
            Shape::Run,
            Route::RunsList,
            json!({"data": [], "next_cursor": null})
        ),
        json!({"run": null})
    );
    assert_eq!(
        shape(Shape::Run, Route::RunsGet, run.clone()),
        json!({"run": run})
    );
}

#[test]
fn bad_arguments_name_the_argument() {
    let refused = |name: &str, a: Value| match call(name, Some(&a)) {
        Err(CallError::BadArgument(field, _)) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(refused("list_incidents", json!({})), "project_id");
    assert_eq!(
        refused("list_incidents", json!({"project_id": "prj_short"})),
        "project_id"
    );
    assert_eq!(
        refused(
            "list_incidents",
            json!({"project_id": PID, "status": "gone"})
        ),
        "status"
    );
    assert_eq!(
        refused("list_incidents", json!({"project_id": PID, "limit": 0})),
        "limit"
    );
    assert_eq!(
        refused("list_incidents", json!({"project_id": PID, "limit": "5"})),
        "limit"
    );
    assert_eq!(
        refused("list_incidents", json!({"project_id": PID, "limit": 1.5})),
        "limit"
    );
    assert_eq!(
        refused("list_incidents", json!({"project_id": PID, "sql": "drop"})),
        "sql"
    );
    assert_eq!(
        refused(
            "get_incident",
            json!({"project_id": PID, "incident_id": RID})
        ),
        "incident_id"
    );
    assert_eq!(
        refused(
            "customer_ledger",
            json!({"project_id": PID, "customer_id": "cus/../x"})
        ),
        "customer_id"
    );
    assert_eq!(
        refused(
            "list_incidents",
            json!({"project_id": PID, "cursor": "x".repeat(65)})
        ),
        "cursor"
    );
    assert_eq!(refused("list_projects", json!([1])), "");
    assert_eq!(call("drop_tables", None), Err(CallError::UnknownTool));
}

#[test]
fn query_values_are_encoded() {
    let c = call(
        "list_incidents",
        args(json!({"project_id": PID, "cursor": "a&b=c d"})).as_ref(),
    )
    .unwrap();
    assert_eq!(c.query, "cursor=a%26b%3Dc+d");
}
