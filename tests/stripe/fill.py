"""Fills a localstripe server through the official `stripe` library (legacy Plan objects, as
localstripe speaks the older API). Prints a JSON summary the tests compare against.

usage: fill.py BASE_URL N_CUSTOMERS OUT.json
"""
import json
import sys

import stripe

base, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stripe.api_key = "sk_test_parityrail_fill"
stripe.api_base = base

pro = stripe.Product.create(name="Pro", type="service")
basic = stripe.Product.create(name="Basic", type="service")
pro_plan = stripe.Plan.create(id="plan_pro", product=pro.id, amount=4900, currency="usd", interval="month")
basic_plan = stripe.Plan.create(id="plan_basic", product=basic.id, amount=900, currency="usd", interval="month")

customers = []
for i in range(n):
    c = stripe.Customer.create(email=f"c{i}@example.com")
    entry = {"id": c.id, "subscriptions": []}
    if i % 4 != 3:  # every fourth customer has no subscription
        pm = stripe.PaymentMethod.create(
            type="card", card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
        )
        stripe.PaymentMethod.attach(pm.id, customer=c.id)
        stripe.Customer.modify(c.id, invoice_settings={"default_payment_method": pm.id})
        plan = pro_plan if i % 2 == 0 else basic_plan
        s = stripe.Subscription.create(customer=c.id, items=[{"plan": plan.id}])
        if i % 8 == 2:  # some are canceled again
            s = stripe.Subscription.delete(s.id)
        entry["subscriptions"].append({"id": s.id, "status": s.status, "plan": plan.id, "product": plan.product})
    customers.append(entry)

with open(out, "w") as f:
    json.dump({"products": [pro.id, basic.id], "customers": customers}, f)
