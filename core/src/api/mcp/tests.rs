use super::*;

const PID: &str = "prj_0123456789abcdefABCDEF";

fn modern(method: &str, name: Option<&str>) -> Headers<'static> {
    let method: &'static str = Box::leak(method.to_owned().into_boxed_str());
    let name: Option<&'static str> = name.map(|n| &*Box::leak(n.to_owned().into_boxed_str()));
    Headers {
        protocol_version: Some(MODERN),
        method: Some(method),
        name,
    }
}

fn meta(version: &str) -> Value {
    json!({META_VERSION: version, META_CAPABILITIES: {}})
}

fn req(id: Value, method: &str, params: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        .to_string()
        .into_bytes()
}

fn answered(step: Step) -> (u16, Value) {
    match step {
        Step::Answer(status, body) => (status, body.unwrap_or(Value::Null)),
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn server_discover_lists_the_versions_and_marks_the_result_complete() {
    let (status, v) = answered(handle(
        &req(json!(1), "server/discover", json!({"_meta": meta(MODERN)})),
        modern("server/discover", None),
    ));
    assert_eq!(status, 200);
    let r = &v["result"];
    assert_eq!(v["id"], json!(1));
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["supportedVersions"], json!(SUPPORTED));
    assert_eq!(r["capabilities"], json!({"tools": {"listChanged": false}}));
    assert!(r["ttlMs"].is_u64() && r["cacheScope"].is_string());
    assert_eq!(r["_meta"][META_SERVER]["name"], "parityrail");
}

#[test]
fn modern_requests_must_carry_meta_and_matching_headers() {
    let list = |params: Value, h: Headers<'static>| {
        answered(handle(&req(json!(2), "tools/list", params), h))
    };
    // `_meta` without the capabilities: invalid params.
    let (s, v) = list(
        json!({"_meta": {META_VERSION: MODERN}}),
        modern("tools/list", None),
    );
    assert_eq!(
        (s, v["error"]["code"].clone(), v["id"].clone()),
        (400, json!(-32602), json!(2))
    );
    // The version header missing, or saying something else than `_meta`: header mismatch, before
    // the version itself is looked at.
    let mut h = modern("tools/list", None);
    h.protocol_version = None;
    assert_eq!(
        list(json!({"_meta": meta(MODERN)}), h).1["error"]["code"],
        json!(-32020)
    );
    let (s, v) = list(
        json!({"_meta": meta("v999.0.0")}),
        modern("tools/list", None),
    );
    assert_eq!((s, v["error"]["code"].clone()), (400, json!(-32020)));
    // Both saying an unknown version: unsupported, with the list.
    let mut h = modern("tools/list", None);
    h.protocol_version = Some("v999.0.0");
    let (s, v) = list(json!({"_meta": meta("v999.0.0")}), h);
    assert_eq!((s, v["error"]["code"].clone()), (400, json!(-32022)));
    assert_eq!(
        v["error"]["data"],
        json!({"supported": SUPPORTED, "requested": "v999.0.0"})
    );
    // Mcp-Method: missing, different, or different in case.
    for m in [None, Some("tools/call"), Some("TOOLS/LIST")] {
        let mut h = modern("tools/list", None);
        h.method = m;
        assert_eq!(
            list(json!({"_meta": meta(MODERN)}), h).1["error"]["code"],
            json!(-32020),
            "{m:?}"
        );
    }
    // Whitespace around a value is not a difference.
    let mut h = modern("tools/list", None);
    h.method = Some("  tools/list\t");
    let (s, v) = list(json!({"_meta": meta(MODERN)}), h);
    assert_eq!(s, 200);
    assert_eq!(v["result"]["resultType"], "complete");
    assert!(v["result"]["tools"]
        .as_array()
        .is_some_and(|t| t.len() == tools::BINDINGS.len()));
}

#[test]
fn mcp_name_must_name_the_tool_called_plain_or_base64() {
    let params = json!({"_meta": meta(MODERN), "name": "list_projects", "arguments": {}});
    let body = req(json!("c"), "tools/call", params);
    match handle(&body, modern("tools/call", Some("list_projects"))) {
        Step::Tool(Era::Modern, id, c) => {
            assert_eq!(id, json!("c"));
            assert_eq!(c.route, crate::api::routes::Route::ProjectsList);
        }
        other => panic!("{other:?}"),
    }
    // "list_projects" in base64.
    let b64 = modern("tools/call", Some("=?base64?bGlzdF9wcm9qZWN0cw==?="));
    assert!(matches!(handle(&body, b64), Step::Tool(..)));
    // Only Mcp-Name has a base64 form.
    let mut h = modern("tools/call", Some("list_projects"));
    h.method = Some("=?base64?dG9vbHMvY2FsbA==?=");
    assert_eq!(answered(handle(&body, h)).1["error"]["code"], json!(-32020));
    for name in [None, Some("get_incident")] {
        let (s, v) = answered(handle(&body, modern("tools/call", name)));
        assert_eq!(
            (s, v["error"]["code"].clone()),
            (400, json!(-32020)),
            "{name:?}"
        );
    }
}

#[test]
fn unknown_methods_are_404_in_the_modern_era_including_the_2025_handshake() {
    for m in ["initialize", "ping", "resources/list", "prompts/list"] {
        let (s, v) = answered(handle(
            &req(json!(3), m, json!({"_meta": meta(MODERN)})),
            modern(m, None),
        ));
        assert_eq!(
            (s, v["error"]["code"].clone(), v["id"].clone()),
            (404, json!(-32601), json!(3)),
            "{m}"
        );
    }
}

#[test]
fn the_2025_handshake_is_answered_without_a_session() {
    let init = |v: &str| {
        answered(handle(
            &req(
                json!(0),
                "initialize",
                json!({"protocolVersion": v, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
            ),
            Headers::default(),
        ))
    };
    for v in ["2025-11-25", "2025-06-18"] {
        let (s, r) = init(v);
        assert_eq!(s, 200);
        assert_eq!(r["result"]["protocolVersion"], v);
        assert_eq!(
            r["result"]["capabilities"]["tools"],
            json!({"listChanged": false})
        );
        assert_eq!(r["result"]["serverInfo"]["name"], "parityrail");
        assert_eq!(r["result"].get("resultType"), None);
    }
    // A version not served (older, or the stateless one asked through `initialize`) is answered
    // with the newest 2025 revision.
    for v in ["2024-11-05", MODERN] {
        assert_eq!(init(v).1["result"]["protocolVersion"], "2025-11-25");
    }
    let legacy = Headers {
        protocol_version: Some("2025-06-18"),
        ..Headers::default()
    };
    let (s, v) = answered(handle(&req(json!(9), "ping", Value::Null), legacy));
    assert_eq!((s, v["result"].clone()), (200, json!({})));
    // `notifications/initialized` (no id): accepted without a body.
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    assert_eq!(handle(note.as_bytes(), legacy), Step::Answer(202, None));
    // A 2025 request under a version header this server does not speak.
    let bad = Headers {
        protocol_version: Some("2025-01-01"),
        ..Headers::default()
    };
    let (s, v) = answered(handle(
        &req(
            json!(1),
            "initialize",
            json!({"protocolVersion": "2025-11-25"}),
        ),
        bad,
    ));
    assert_eq!((s, v["error"]["code"].clone()), (400, json!(-32022)));
    let (s, v) = answered(handle(
        &req(json!(4), "resources/list", Value::Null),
        legacy,
    ));
    assert_eq!((s, v["error"]["code"].clone()), (200, json!(-32601)));
}

#[test]
fn malformed_bodies_get_the_json_rpc_errors() {
    let (s, v) = answered(handle(b"{not json", Headers::default()));
    assert_eq!(
        (s, v["error"]["code"].clone(), v.get("id")),
        (400, json!(-32700), None)
    );
    let (s, v) = answered(handle(b"[]", Headers::default()));
    assert_eq!((s, v["error"]["code"].clone()), (400, json!(-32600)));
    for bad in [
        json!({"jsonrpc": "1.0", "id": 1, "method": "ping"}),
        json!({"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}),
        json!({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}),
        json!({"jsonrpc": "2.0", "id": 1}),
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]}),
    ] {
        let (s, v) = answered(handle(bad.to_string().as_bytes(), Headers::default()));
        assert_eq!(
            (s, v["error"]["code"].clone()),
            (400, json!(-32600)),
            "{bad}"
        );
    }
}

#[test]
fn tool_calls_refuse_unknown_tools_and_bad_arguments() {
    let legacy = Headers::default();
    let call = |params: Value| answered(handle(&req(json!(5), "tools/call", params), legacy));
    let (s, v) = call(json!({"name": "drop_tables"}));
    assert_eq!((s, v["error"]["code"].clone()), (200, json!(-32602)));
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown tool"));
    let (s, v) =
        call(json!({"name": "list_incidents", "arguments": {"project_id": PID, "status": "x"}}));
    assert_eq!((s, v["error"]["code"].clone()), (200, json!(-32602)));
    assert_eq!(v["error"]["data"]["field"], "status");
    let (_, v) = call(json!({"arguments": {}}));
    assert_eq!(v["error"]["code"], json!(-32602));
}

#[test]
fn tool_answers_carry_structured_content_and_errors_are_results() {
    let ok = tool_result(
        Era::Modern,
        &json!(1),
        json!({"data": [], "next_cursor": null}),
    );
    assert_eq!(
        ok["result"]["structuredContent"],
        json!({"data": [], "next_cursor": null})
    );
    assert_eq!(ok["result"]["content"][0]["type"], "text");
    assert_eq!(ok["result"]["resultType"], "complete");
    let legacy = tool_result(Era::Legacy, &json!(1), json!({}));
    assert_eq!(legacy["result"].get("resultType"), None);
    let e = ApiError::not_found("project");
    let err = tool_error(Era::Legacy, &json!(2), &e, "req_1");
    assert_eq!(err["result"]["isError"], true);
    assert_eq!(err["result"].get("structuredContent"), None);
    assert!(err["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("project not found"));
}

#[test]
fn a_transport_error_keeps_its_status_and_has_no_id() {
    let e = ApiError::unauthorized("invalid_api_key", "bad key");
    let v = e.to_jsonrpc("req_1");
    assert_eq!(v.get("id"), None);
    assert_eq!(v["error"]["data"]["status"], 401);
}

#[test]
fn origins_are_refused_unless_loopback_or_listed() {
    assert!(origin_allowed(None, None));
    for ok in [
        "http://localhost:8787",
        "http://127.0.0.1",
        "http://[::1]:3000",
        "https://localhost",
    ] {
        assert!(origin_allowed(Some(ok), None), "{ok}");
    }
    for bad in [
        "http://evil.example.com",
        "http://localhost.evil.example.com",
        "http://127.0.0.1.nip.io",
        "http://localhost:80/x",
        "http://[::1]x",
        "null",
        "",
    ] {
        assert!(!origin_allowed(Some(bad), None), "{bad}");
    }
    let list = Some("https://app.example.com, https://ops.example.com");
    assert!(origin_allowed(Some("https://ops.example.com"), list));
    assert!(!origin_allowed(Some("http://localhost:8787"), list));
    assert!(!origin_allowed(Some("https://app.example.com.evil"), list));
}

#[test]
fn a_2025_request_with_mcp_headers_must_agree_with_its_body_too() {
    let body = req(
        json!(8),
        "tools/call",
        json!({"name": "get_integrations", "arguments": {"project_id": PID}}),
    );
    for h in [
        Headers {
            method: Some("tools/list"),
            ..Headers::default()
        },
        Headers {
            name: Some("list_projects"),
            ..Headers::default()
        },
        Headers {
            protocol_version: Some("2025-11-25"),
            method: Some("tools/call"),
            name: Some("list_projects"),
        },
        Headers {
            name: Some("list_projects"),
            ..Headers::default()
        },
    ] {
        let (s, v) = answered(handle(&body, h));
        assert_eq!(
            (s, v["error"]["code"].clone()),
            (400, json!(-32020)),
            "{h:?}"
        );
    }
    // Sent and equal, or not sent: served.
    let ok = Headers {
        protocol_version: Some("2025-11-25"),
        method: Some("tools/call"),
        name: Some(" get_integrations "),
    };
    assert!(matches!(handle(&body, ok), Step::Tool(Era::Legacy, ..)));
    assert!(matches!(
        handle(&body, Headers::default()),
        Step::Tool(Era::Legacy, ..)
    ));
    // A name header on a method that names nothing.
    let list = req(json!(9), "tools/list", Value::Null);
    let h = Headers {
        name: Some("x"),
        ..Headers::default()
    };
    assert_eq!(answered(handle(&list, h)).1["error"]["code"], json!(-32020));
}
