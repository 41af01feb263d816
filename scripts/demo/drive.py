"""Sets the demo up in ParityRail through its public HTTP API only, exactly as a user would (an
org through the operator route, a test key, a `test` project, its Stripe and database
integrations, the mapping, a webhook endpoint registered with localstripe), starts a full run,
waits for it and prints what it found next to what the seeder planted.

usage: drive.py --dir DEMO_DIR --worker URL --stripe URL [--reuse] [--once]
env:   PR_DEMO_OPERATOR_TOKEN (fresh setup only), PR_DEMO_T0_MS (when `npm start` began)

DEMO_DIR holds expected.json (from seed.py), pg/env (the database URLs) and demo.json (mode 600:
the ids and the demo key, so a second start finds its project again).
Exit 5: the demo state is not intact (the caller starts over).
"""
import argparse
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
import pgurl  # noqa: E402
import rules  # noqa: E402

MAPPING = {
    "table": "accounts",
    "customer_column": "stripe_customer_id",
    "plan_column": "plan",
    "premium_column": "is_premium",
    "trial_column": "on_trial",
    "entitlements": dict(rules.ENTITLEMENT_COLUMNS),
    "plans": {product: {"plan": plan, "rank": rank} for product, (plan, rank) in rules.PLANS.items()},
    "free_plan": rules.FREE,
}
HOOK_EVENTS = ["customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"]
KIND_NOTES = {
    "missing_access": "pays, locked out",
    "unpaid_access": "granted, not paying (incl. canceled)",
    "plan_mismatch": "pays for one plan, granted another",
    "trial_mismatch": "trial flag wrong",
    "entitlement_mismatch": "SSO feature wrong",
    "unknown_customer": "row without Stripe customer, or payer without row",
}


class Unintact(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def call(base, method, path, key=None, body=None, form=None):
    headers = {}
    data = None
    if key:
        headers["authorization"] = f"Bearer {key}"
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["content-type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read().decode()
            return r.status, (json.loads(text) if text.strip().startswith(("{", "[")) else text)
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


def ok(res, what, want=(200, 201, 202)):
    status, body = res
    if status not in want:
        raise SystemExit(f"demo: {what} failed: {status} {json.dumps(body)[:500]}")
    return body


def pages(base, path, key):
    out, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        body = ok(call(base, "GET", path + sep + "limit=100" + (f"&cursor={cursor}" if cursor else ""), key), f"GET {path}")
        out += body["data"]
        cursor = body.get("next_cursor")
        if not cursor:
            return out


def env_file(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            out[k] = v
    return out


def save(path, state):
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state, f, indent=1)
    os.replace(path + ".tmp", path)


def setup(a, pg, expected):
    """A fresh org, key, project, integrations and mapping → the state to keep."""
    op = os.environ["PR_DEMO_OPERATOR_TOKEN"]
    org = ok(call(a.worker, "POST", "/v1/operator/orgs", op, {"name": "Demo SaaS", "owner_email": "owner@demo-saas.test"}), "creating the org")
    live = org["key"]["key"]
    key = ok(call(a.worker, "POST", "/v1/keys", live, {"name": "demo (test, repair)", "environment": "test", "capability": "repair"}), "minting the test key")["key"]
    project = ok(call(a.worker, "POST", "/v1/projects", key, {"name": "Demo SaaS app", "environment": "test"}), "creating the project")
    pid = project["id"]
    hook_secret = "whsec_" + secrets.token_hex(24)
    stripe_key = "sk_test_demo" + secrets.token_hex(12)
    ok(call(a.worker, "PUT", f"/v1/projects/{pid}/integrations/stripe", key, {"api_key": stripe_key, "webhook_secrets": [hook_secret]}), "the Stripe integration")
    state = {
        "seed": expected["seed"],
        "org_id": org["org"]["id"],
        "project_id": pid,
        "key": key,
        "owner_live_key": live,
        "webhook_secret": hook_secret,
        "database_urls": None,
        "complete": False,
    }
    database(a, pg, state)
    t = ok(call(a.worker, "POST", f"/v1/projects/{pid}/integrations/database/test", key), "the database test")
    if not t.get("ok"):
        raise SystemExit(f"demo: ParityRail cannot read the demo database: {json.dumps(t)}")
    ok(call(a.worker, "PUT", f"/v1/projects/{pid}/mapping", key, MAPPING), "the mapping")
    return state


def database(a, pg, state):
    urls = {"read_url": pg["PR_PG_READER_URL"], "repair_url": pg["PR_PG_REPAIRER_URL"]}
    if state.get("database_urls") != urls:
        ok(call(a.worker, "PUT", f"/v1/projects/{state['project_id']}/integrations/database", state["key"], urls), "the database integration")
        state["database_urls"] = urls


def intact(a, pg, state, expected):
    """Whether the demo's systems still hold what was seeded (else the caller starts over)."""
    status, _ = call(a.worker, "GET", f"/v1/projects/{state['project_id']}", state["key"])
    if status != 200:
        raise Unintact(f"ParityRail does not know the demo project any more ({status})")
    _, listed = call(a.stripe, "GET", "/v1/customers?limit=1", "sk_test_demo_check")
    if not isinstance(listed, dict) or listed.get("total_count") != expected["stripe_customers"]:
        raise Unintact("localstripe does not hold the seeded customers")
    args, env = pgurl.psql(pg["PR_PG_WRITER_URL"])
    rows = subprocess.run(args + ["-XAtc", "SELECT count(*) FROM accounts"], capture_output=True, text=True, env=env)
    if rows.returncode != 0 or rows.stdout.strip() != str(expected["app_rows"]):
        raise Unintact("the app table does not hold the seeded rows")


def register_hook(a, state):
    """localstripe delivers its events, signed, to the project's webhook endpoint (it keeps
    this registration in memory only: every start registers again)."""
    url = f"{a.worker}/webhooks/stripe/{state['project_id']}"
    form = [("url", url), ("secret", state["webhook_secret"])] + [("events[]", e) for e in HOOK_EVENTS]
    ok(call(a.stripe, "POST", "/_config/webhooks/parityrail-demo", form=form), "registering the webhook with localstripe")


def run(a, state):
    pid, key = state["project_id"], state["key"]
    started = time.time()
    r = ok(call(a.worker, "POST", f"/v1/projects/{pid}/runs", key), "starting the run")
    while r["status"] == "running":
        if time.time() - started > 180:
            raise SystemExit(f"demo: run {r['id']} still running after 180 s")
        time.sleep(0.2)
        r = ok(call(a.worker, "GET", f"/v1/projects/{pid}/runs/{r['id']}", key), "reading the run")
    if r["status"] != "succeeded":
        raise SystemExit(f"demo: run {r['id']} ended {r['status']}: {json.dumps(r.get('errors'))[:800]}")
    r["seconds"] = round(time.time() - started, 2)
    return r


def pick_repair(a, state, open_incidents, expected):
    """One pending repair to show: a locked-out payer's grant when there is one."""
    pending = pages(a.worker, f"/v1/projects/{state['project_id']}/repairs?status=pending", state["key"])
    kind_of = {i["id"]: i["kind"] for i in open_incidents}
    rank = {k: n for n, k in enumerate(["missing_access", "entitlement_mismatch", "plan_mismatch", "unpaid_access", "trial_mismatch"])}
    pending.sort(key=lambda r: (rank.get(kind_of.get(r["incident_id"]), 9), r["customer"]))
    if not pending:
        return None
    count = len(pending)
    rep = ok(call(a.worker, "GET", f"/v1/projects/{state['project_id']}/repairs/{pending[0]['id']}", state["key"]), "reading the repair")
    kinds = sorted((kind_of.get(i, "?") for i in rep.get("incident_ids") or [rep["incident_id"]]), key=lambda k: rank.get(k, 9))
    rep["incident_kind"] = " and ".join(kinds)
    rep["scenario"] = expected["customers"].get(rep["customer"], {}).get("scenario")
    rep["pending_in_project"] = count
    return rep


def summary(a, state, expected, the_run, reused):
    pid, key = state["project_id"], state["key"]
    open_incidents = pages(a.worker, f"/v1/projects/{pid}/incidents?status=open", key)
    found = {}
    for i in open_incidents:
        found.setdefault(i["customer"], []).append(i["kind"])
    found = {c: sorted(k) for c, k in found.items()}
    want = {c: v["incidents"] for c, v in expected["customers"].items() if v["incidents"]}
    found_by_kind = {k: sum(k in v for v in found.values()) for k in rules.KINDS}
    repair = pick_repair(a, state, open_incidents, expected)
    # A paying customer in parity whose subscription is still active, to cancel by hand.
    cancel = None
    for c, v in sorted(expected["customers"].items()):
        if v["scenario"] == "parity_paid" and c not in found:
            _, subs = call(a.stripe, "GET", f"/v1/subscriptions?customer={c}", "sk_test_demo_check")
            live = [x["id"] for x in (subs.get("data", []) if isinstance(subs, dict) else []) if x.get("status") == "active"]
            if live:
                cancel = {"customer": c, "subscription": live[0]}
                break
    status, _ = call(a.worker, "GET", "/")
    return {
        "seed": expected["seed"],
        "reused": reused,
        "worker": a.worker,
        "stripe": a.stripe,
        "org_id": state["org_id"],
        "project_id": pid,
        "key": key,
        "dashboard": status == 200,
        "run": the_run,
        "stripe_customers": expected["stripe_customers"],
        "app_rows": expected["app_rows"],
        "scenarios": expected["scenarios"],
        "incidents_by_kind": found_by_kind,
        "expected_by_kind": expected["incidents_by_kind"],
        "found": found,
        "expected": want,
        "match": found == want,
        "past_due_in_grace": sorted(c for c, v in expected["customers"].items() if v["scenario"] == "past_due_grace"),
        "pending_repair": repair,
        "to_cancel": cancel,
        "seconds_to_summary": round(time.time() - int(os.environ.get("PR_DEMO_T0_MS", "0")) / 1000, 1)
        if os.environ.get("PR_DEMO_T0_MS") else None,
    }


def show(s):
    w = s["worker"]
    out = []
    p = out.append
    run_ = s["run"]
    p("")
    p(f"ParityRail demo, seed {s['seed']}" + ("  (reused: the data of an earlier start; `npm start -- --reset` starts over)" if s["reused"] else ""))
    p(f"  Stripe (localstripe {s['stripe']}): {s['stripe_customers']} customers on starter, pro and business; SSO is a product feature of pro and business")
    p(f"  App database (PostgreSQL, table accounts): {s['app_rows']} rows; ParityRail reads as pr_reader and repairs as pr_repairer")
    p(f"  Full run {run_['id']}: {run_['status']} in {run_['seconds']} s, {run_['customers_checked']} customers checked with "
      f"{run_['stripe_requests']} Stripe requests and {run_['db_round_trips']} database round trips")
    p("")
    p("  Open incidents by kind      found  seeded")
    for k in rules.KINDS:
        p(f"    {k:<24}{s['incidents_by_kind'][k]:>7}{s['expected_by_kind'][k]:>8}   {KIND_NOTES[k]}")
    flagged = [c for c in s["past_due_in_grace"] if c in s["found"]]
    p(f"    past_due, in grace      {len(flagged):>7}{0:>8}   {len(s['past_due_in_grace'])} customers: their access is kept, never revoked")
    if s["match"]:
        p("  Every customer's incidents are exactly the drift the seeder planted.")
    elif s["reused"]:
        p("  (Differs from the planted drift: changes since the first start, such as approved repairs, show here.)")
    else:
        p("  MISMATCH between what ParityRail found and what the seeder planted (see .tmp/demo/summary.json).")
    r = s["pending_repair"]
    key, pid = s["key"], s["project_id"]
    if r:
        p("")
        p(f"  {r['pending_in_project']} repairs wait for approval; one of them, {r['id']} ({r['effect']}) for {r['customer']},")
        p(f"  fixes its {r['incident_kind']}:")
        for c in r["changes"]:
            p(f"    {c['column']}: {json.dumps(c['before'])} -> {json.dumps(c['after'])}")
        st = r.get("statement") or {}
        for part in ("lock", "sql"):
            if st.get(part):
                p(f"    {st[part]}")
        if st.get("params") is not None:
            p(f"    params: {json.dumps(st['params'])}")
    p("")
    if s["dashboard"]:
        p(f"  Dashboard: {w}/  (sign in with the key below)")
    else:
        p("  The dashboard is not built yet; this key is what will sign in to it. Today: the API.")
    p(f"  export PR={w} KEY={key} P={pid}")
    p('  curl -s "$PR/v1/projects/$P/incidents?status=open&limit=100" -H "Authorization: Bearer $KEY"')
    if r:
        p(f'  curl -s -X POST "$PR/v1/projects/$P/repairs/{r["id"]}/approve" -H "Authorization: Bearer $KEY"')
        p(f'  curl -s "$PR/v1/projects/$P/customers/{r["customer"]}/ledger" -H "Authorization: Bearer $KEY"')
    if s.get("to_cancel"):
        c = s["to_cancel"]
        p("  Stripe's events reach ParityRail's webhook: cancel a paying customer in localstripe, and a")
        p("  second later its unpaid_access incident is open:")
        p(f'  curl -s -X DELETE {s["stripe"]}/v1/subscriptions/{c["subscription"]} -u sk_test_demo: >/dev/null')
        p(f'  curl -s "$PR/v1/projects/$P/incidents?customer={c["customer"]}" -H "Authorization: Bearer $KEY"')
    if s["seconds_to_summary"] is not None:
        p("")
        p(f"  {s['seconds_to_summary']} s from `npm start` to this summary.")
    print("\n".join(out), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--stripe", required=True)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--once", action="store_true")
    a = ap.parse_args()
    a.worker, a.stripe = a.worker.rstrip("/"), a.stripe.rstrip("/")
    state_path = os.path.join(a.dir, "demo.json")
    with open(os.path.join(a.dir, "expected.json")) as f:
        expected = json.load(f)
    pg = env_file(os.path.join(a.dir, "pg", "env"))
    if a.reuse:
        with open(state_path) as f:
            state = json.load(f)
        try:
            intact(a, pg, state, expected)
        except Unintact as e:
            log(f"demo: {e}: starting over")
            sys.exit(5)
        database(a, pg, state)
        save(state_path, state)
    else:
        state = setup(a, pg, expected)
        save(state_path, state)
    register_hook(a, state)
    the_run = run(a, state)
    state["complete"] = True
    save(state_path, state)
    s = summary(a, state, expected, the_run, a.reuse)
    save(os.path.join(a.dir, "summary.json"), s)
    if a.once:
        print(json.dumps(s, indent=1))
    else:
        show(s)


if __name__ == "__main__":
    main()
