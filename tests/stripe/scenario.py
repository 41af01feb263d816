"""Creates the reconcile scenario's customers in localstripe (on top of fill.py's plans) and
prints their ids as JSON: {name: customer id}.

usage: scenario.py BASE_URL
"""
import json
import sys

import stripe

stripe.api_key = "sk_test_parityrail_scenario"
stripe.api_base = sys.argv[1]


def customer(card="4242424242424242"):
    c = stripe.Customer.create(email="scenario@example.com")
    pm = stripe.PaymentMethod.create(
        type="card", card={"number": card, "exp_month": 12, "exp_year": 2040, "cvc": "123"}
    )
    stripe.PaymentMethod.attach(pm.id, customer=c.id)
    stripe.Customer.modify(c.id, invoice_settings={"default_payment_method": pm.id})
    return c.id


out = {}
for name, plan in [("parity", "plan_pro"), ("missing", "plan_pro"), ("downgrade", "plan_basic"), ("stripe_only", "plan_pro")]:
    out[name] = customer()
    stripe.Subscription.create(customer=out[name], items=[{"plan": plan}])
out["canceled_granted"] = customer()
s = stripe.Subscription.create(customer=out["canceled_granted"], items=[{"plan": "plan_pro"}])
stripe.Subscription.delete(s.id)
out["grace"] = customer("4000000000000341")
g = stripe.Subscription.create(customer=out["grace"], items=[{"plan": "plan_pro"}], enable_incomplete_payments=True)
out["grace_status"] = g.status
out["no_subscription"] = stripe.Customer.create(email="free@example.com").id
print(json.dumps(out))
