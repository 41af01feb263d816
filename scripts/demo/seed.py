"""Seeds the demo's "customer systems": a Stripe account in localstripe (through the official
`stripe` library) and the app's `accounts` table in PostgreSQL, with drift of every SPEC §6 kind
chosen at random from SEED. Writes what ParityRail should then find (rules.py) to OUT.

usage: PR_PG_WRITER_URL=... seed.py --stripe URL --seed N [--customers 300] --out FILE

Nothing here talks to ParityRail.
"""
import argparse
import json
import os
import random
import string
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import stripe

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
import pgurl  # noqa: E402
import rules  # noqa: E402

# Scenario → how many customers get it (a range; the seed picks), and what it is.
SCENARIOS = {
    "missing_access": ((4, 9), "pays for a plan, the app row grants nothing (locked out)"),
    "unpaid_access": ((3, 7), "no subscription at all, the app row grants a paid plan"),
    "canceled_granted": ((3, 7), "canceled subscription, the app row still grants the plan"),
    "plan_mismatch": ((4, 9), "pays for one plan, the app row grants another"),
    "trial_mismatch": ((2, 5), "pays (no trial), the app row still says trial"),
    "entitlement_missing": ((3, 7), "pays for a plan with SSO, the app row lacks SSO"),
    "past_due_grace": ((3, 6), "past_due (in grace): whatever the app grants is kept"),
    "stripe_only": ((2, 5), "pays, and the app has no row for the customer"),
    "ghost": ((2, 5), "app row names a customer Stripe does not have"),
    "free_no_row": ((5, 12), "a Stripe customer without a subscription and without a row"),
}
PLAN_WEIGHTS = [("prod_starter", 45), ("prod_pro", 35), ("prod_business", 20)]
CARD_OK, CARD_DECLINED = "4242424242424242", "4000000000000341"


def plan_of(product):
    return rules.PLANS[product][0]


def plan_scenarios(rng, total):
    """[(scenario, product or None, row plan)] for `total` Stripe customers (+ ghosts)."""
    out = []
    pick = lambda: rng.choices([p for p, _ in PLAN_WEIGHTS], [w for _, w in PLAN_WEIGHTS])[0]
    for name, ((lo, hi), _) in SCENARIOS.items():
        for _ in range(rng.randint(lo, hi)):
            product = pick()
            if name == "entitlement_missing":
                product = rng.choice(["prod_pro", "prod_business"])
            row_plan = plan_of(product)
            if name == "plan_mismatch":
                row_plan = plan_of(rng.choice([p for p, _ in PLAN_WEIGHTS if p != product]))
            out.append((name, product, row_plan))
    stripe_customers = sum(1 for s in out if s[0] != "ghost")
    for _ in range(max(0, total - stripe_customers)):
        if rng.random() < 0.7:
            p = pick()
            out.append(("parity_paid", p, plan_of(p)))
        else:
            out.append(("parity_free", None, rules.FREE))
    rng.shuffle(out)
    return out


def app_row(name, row_plan):
    """The app row the scenario plants (None: no row)."""
    if name in ("stripe_only", "free_no_row"):
        return None
    if name == "missing_access":
        return rules.access(rules.FREE)
    row = rules.natural_row(row_plan)
    if name == "trial_mismatch":
        row["trial"] = True
    if name == "entitlement_missing":
        row["features"] = set()
    return row


def card(number):
    return stripe.PaymentMethod.create(
        type="card", card={"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"}
    )


def create_customer(i, name, product):
    """Creates one Stripe customer for the scenario → (id, [(status, product)], [subscription id])."""
    email = f"customer{i:03d}@demo-saas.test"
    if name in ("parity_free", "free_no_row", "unpaid_access"):
        return stripe.Customer.create(email=email).id, [], []
    pm = card(CARD_OK)
    c = stripe.Customer.create(email=email, payment_method=pm.id, invoice_settings={"default_payment_method": pm.id})
    key = plan_of(product)
    s = stripe.Subscription.create(customer=c.id, items=[{"plan": f"plan_{key}_monthly"}])
    if name == "canceled_granted":
        s = stripe.Subscription.delete(s.id)
    elif name == "past_due_grace":
        # localstripe's one path to past_due: a renewal (here an interval change, which
        # invoices at once) charged to a card that declines.
        bad = card(CARD_DECLINED)
        stripe.PaymentMethod.attach(bad.id, customer=c.id)
        stripe.Customer.modify(c.id, invoice_settings={"default_payment_method": bad.id})
        item = s["items"]["data"][0]["id"]
        s = stripe.Subscription.modify(s.id, items=[{"id": item, "plan": f"plan_{key}_yearly"}])
    return c.id, [(s.status, product)], [s.id]


def catalog():
    """Three products with monthly and yearly plans (legacy Plan objects: what localstripe
    speaks) and the `sso` feature attached to Pro and Business (Stripe product features)."""
    prices = {"starter": 900, "pro": 4900, "business": 19900}
    sso = stripe.entitlements.Feature.create(name="Single sign-on", lookup_key="sso")
    for product, (plan, _) in rules.PLANS.items():
        stripe.Product.create(id=product, name=plan.capitalize(), type="service")
        stripe.Plan.create(id=f"plan_{plan}_monthly", product=product, amount=prices[plan], currency="usd", interval="month")
        stripe.Plan.create(id=f"plan_{plan}_yearly", product=product, amount=prices[plan] * 10, currency="usd", interval="year")
        if "sso" in rules.PRODUCT_FEATURES[product]:
            stripe.Product.create_feature(product, entitlement_feature=sso.id)


def sql_literal(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return "'" + str(v).replace("'", "''") + "'"


def write_app(pg_url, rows):
    values = ",\n".join(
        "(" + ", ".join(sql_literal(x) for x in (cus, r["plan"], r["premium"], r["trial"], "sso" in r["features"])) + ")"
        for cus, r in rows
    )
    script = "BEGIN;\nDELETE FROM accounts;\n"
    if values:
        script += f"INSERT INTO accounts (stripe_customer_id, plan, is_premium, on_trial, feature_sso) VALUES\n{values};\n"
    script += "COMMIT;\n"
    args, env = pgurl.psql(pg_url)
    subprocess.run(args + ["-q", "-v", "ON_ERROR_STOP=1", "-X"], input=script, text=True, check=True,
                   stdout=subprocess.DEVNULL, env=env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stripe", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--customers", type=int, default=300)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args()
    t0 = time.time()
    stripe.api_key = "sk_test_demo_seeder"
    stripe.api_base = args.stripe
    stripe.max_network_retries = 2
    rng = random.Random(args.seed)
    plan = plan_scenarios(rng, args.customers)
    ghost_ids = iter("cus_" + "".join(rng.choices(string.ascii_letters + string.digits, k=14)) for _ in range(len(plan)))

    catalog()
    jobs = [(i, name, product) for i, (name, product, _) in enumerate(plan) if name != "ghost"]
    with ThreadPoolExecutor(args.threads) as ex:
        made = dict(zip((j[0] for j in jobs), ex.map(lambda j: create_customer(*j), jobs)))

    customers, rows = {}, []
    for i, (name, product, row_plan) in enumerate(plan):
        cus, subs, sub_ids = made[i] if name != "ghost" else (next(ghost_ids), None, [])
        row = app_row(name, row_plan)
        if row is not None:
            rows.append((cus, row))
        customers[cus] = {
            "scenario": name,
            "stripe": None if subs is None else [{"status": s, "product": p, "id": i} for (s, p), i in zip(subs, sub_ids)],
            "app": None if row is None else {**row, "features": sorted(row["features"])},
            "incidents": rules.incidents(subs, row),
        }
    write_app(os.environ["PR_PG_WRITER_URL"], rows)

    by_kind = {k: sum(k in c["incidents"] for c in customers.values()) for k in rules.KINDS}
    by_scenario = {}
    for c in customers.values():
        by_scenario[c["scenario"]] = by_scenario.get(c["scenario"], 0) + 1
    out = {
        "seed": args.seed,
        "stripe_customers": sum(1 for c in customers.values() if c["stripe"] is not None),
        "app_rows": len(rows),
        "scenarios": by_scenario,
        "descriptions": {k: d for k, (_, d) in SCENARIOS.items()},
        "incidents_by_kind": by_kind,
        "customers": customers,
        "seconds": round(time.time() - t0, 2),
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    print(f"seeded {out['stripe_customers']} Stripe customers and {len(rows)} app rows in {out['seconds']} s (seed {args.seed})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
