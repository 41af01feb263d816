"""The demo's own statement of SPEC §6 and §15: which incidents a customer's Stripe state and app
row must produce under the demo mapping. Written from the spec, not from the worker's code or
output, so the demo (and `npm test`) can compare what ParityRail finds with what the seeder
meant to plant.

- Expected access comes from the subscriptions alone: a status the grace policy maps to `keep`
  (`past_due`, `incomplete`) holds whatever the app grants (it can never cause a revocation);
  `revoke` statuses (`canceled`, `unpaid`, …) give nothing; `active` gives the plan its product
  maps to (the highest rank wins) and the features Stripe attaches to that product (in a full
  run, the products' features; the mapping's plans grant none of their own here).
- Under hold the target is the greater of each side: the higher-ranked plan, premium or trial
  if either has it, the union of features.
- Kinds: `missing_access` (target premium, row not), `unpaid_access` (row premium, target not),
  else `plan_mismatch` (plans differ); `trial_mismatch`; `entitlement_mismatch`;
  `unknown_customer` when the app row names a customer Stripe does not have, or a paying Stripe
  customer has no row. A customer with neither, or a non-paying one without a row: nothing.
"""

FREE = "free"
# Stripe product → (plan name, rank); the mapping `plans` is keyed by these product ids.
PLANS = {
    "prod_starter": ("starter", 1),
    "prod_pro": ("pro", 2),
    "prod_business": ("business", 3),
}
# Entitlement feature lookup keys Stripe attaches to each product (product features).
PRODUCT_FEATURES = {"prod_starter": set(), "prod_pro": {"sso"}, "prod_business": {"sso"}}
# The mapping's feature → column.
ENTITLEMENT_COLUMNS = {"sso": "feature_sso"}
# SPEC §5 defaults (the demo mapping sets no `grace`).
GRACE = {
    "active": "access",
    "trialing": "trial",
    "past_due": "keep",
    "incomplete": "keep",
    "unpaid": "revoke",
    "paused": "revoke",
    "canceled": "revoke",
    "incomplete_expired": "revoke",
}
RANK = {name: rank for name, rank in PLANS.values()}

KINDS = [
    "missing_access",
    "unpaid_access",
    "plan_mismatch",
    "trial_mismatch",
    "entitlement_mismatch",
    "unknown_customer",
]


def access(plan, trial=False, features=()):
    return {"plan": plan, "premium": plan != FREE, "trial": trial, "features": set(features)}


def natural_row(plan):
    """The row an app that is in parity keeps for a customer on `plan` (no trial)."""
    product = next((p for p, (n, _) in PLANS.items() if n == plan), None)
    return access(plan, False, PRODUCT_FEATURES.get(product, set()))


def expected(subscriptions):
    """`subscriptions`: [(status, product)] → (access, hold)."""
    best, hold, trial, features = None, False, False, set()
    for status, product in subscriptions:
        rule = GRACE.get(status, "revoke")
        if rule == "keep":
            hold = True
            continue
        if rule == "revoke":
            continue
        plan, rank = PLANS[product]
        trial |= rule == "trial"
        features |= PRODUCT_FEATURES[product] & ENTITLEMENT_COLUMNS.keys()
        if best is None or rank > best[1] or (rank == best[1] and plan < best[0]):
            best = (plan, rank)
    plan = best[0] if best else FREE
    return access(plan, trial and best is not None, features), hold


def incidents(stripe, row):
    """`stripe`: None (no such customer) or [(status, product)]; `row`: None or an access dict.
    → the sorted incident kinds."""
    if stripe is None:
        return ["unknown_customer"] if row is not None else []
    want, hold = expected(stripe)
    if row is None:
        return ["unknown_customer"] if want["premium"] else []
    if hold:
        plan = want["plan"] if RANK.get(want["plan"], 0) > RANK.get(row["plan"], 0) else row["plan"]
        want = {
            "plan": plan,
            "premium": want["premium"] or row["premium"],
            "trial": want["trial"] or row["trial"],
            "features": want["features"] | row["features"],
        }
    out = []
    if want["premium"] and not row["premium"]:
        out.append("missing_access")
    elif row["premium"] and not want["premium"]:
        out.append("unpaid_access")
    elif want["plan"] != row["plan"]:
        out.append("plan_mismatch")
    if want["trial"] != row["trial"]:
        out.append("trial_mismatch")
    if want["features"] != row["features"]:
        out.append("entitlement_mismatch")
    return sorted(out)

