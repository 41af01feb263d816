"""Changes in localstripe for the webhook tests, printing JSON.

usage: hook_scenario.py BASE customers         → {"a": customer id, "b": customer id} (with cards)
       hook_scenario.py BASE subscribe CUS PLAN → {"subscription": id}
       hook_scenario.py BASE upgrade SUB       → SUB's customer moves to plan_pro: SUB is
                                                 canceled and a plan_pro one created (localstripe
                                                 emits no event for an item change)
       hook_scenario.py BASE cancel SUB        → cancels SUB
"""
import json
import sys

import stripe

stripe.api_key = "sk_test_parityrail_hooks"
stripe.api_base = sys.argv[1]


def with_card():
    c = stripe.Customer.create(email="hooks@example.com")
    pm = stripe.PaymentMethod.create(
        type="card", card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
    )
    stripe.PaymentMethod.attach(pm.id, customer=c.id)
    stripe.Customer.modify(c.id, invoice_settings={"default_payment_method": pm.id})
    return c.id


action = sys.argv[2]
if action == "customers":
    print(json.dumps({"a": with_card(), "b": with_card()}))
elif action == "subscribe":
    s = stripe.Subscription.create(customer=sys.argv[3], items=[{"plan": sys.argv[4]}])
    print(json.dumps({"subscription": s.id}))
elif action == "upgrade":
    s = stripe.Subscription.retrieve(sys.argv[3])
    new = stripe.Subscription.create(customer=s.customer, items=[{"plan": "plan_pro"}])
    stripe.Subscription.delete(s.id)
    print(json.dumps({"subscription": new.id}))
elif action == "cancel":
    stripe.Subscription.delete(sys.argv[3])
    print(json.dumps({"canceled": sys.argv[3]}))
