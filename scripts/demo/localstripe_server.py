"""localstripe (PyPI 1.15.10) for the demo, with two changes around it and none inside it:

1. Its state lives in STATE (a pickle of localstripe's own store) instead of the fixed
   /tmp/localstripe.pickle, so the demo's server, the tests' server and anyone else's do not
   overwrite each other, and a second `npm start` finds its customers again. localstripe rewrites
   that pickle after *every* change (which is why filling it slows down as it grows: 300 ms per
   customer at 300); here it is written at most once a second, and once more on exit.
2. Stripe's Entitlements API, which localstripe lacks, in Stripe's shapes: features
   (`POST/GET /v1/entitlements/features`), product features (`POST/GET
   /v1/products/{id}/features`) and a customer's active entitlements (`GET
   /v1/entitlements/active_entitlements?customer=`: the features of the products its active or
   trialing subscriptions bill). Objects are localstripe objects in its store, like the rest.

usage: localstripe_server.py --port N --state FILE [--from-scratch]
"""
import argparse
import asyncio
import os
import pickle

from aiohttp import web
from localstripe import resources, server
from localstripe.errors import UserError
from localstripe.resources import List, Product, StripeObject, Subscription, store

STATE = None
_flush_pending = False


def _flush():
    global _flush_pending
    _flush_pending = False
    if STATE is None:
        return
    tmp = STATE + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(dict(store), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, STATE)


def _dump_soon(self=None):
    """Replaces Store.dump_to_disk: one write a second at most, from the event loop."""
    global _flush_pending
    if _flush_pending:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # not serving yet (loading): the final flush covers it
    _flush_pending = True
    loop.call_later(1.0, _flush)


def _load(self=None):
    try:
        with open(STATE, "rb") as f:
            old = pickle.load(f)
    except FileNotFoundError:
        return
    dict.clear(store)
    dict.update(store, old)


resources.Store.dump_to_disk = _dump_soon
resources.Store.try_load_from_disk = _load


class Feature(StripeObject):
    object = "entitlements.feature"
    _id_prefix = "feat_"

    def __init__(self, name=None, lookup_key=None, metadata=None, **kwargs):
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        if not isinstance(name, str) or not isinstance(lookup_key, str) or not lookup_key:
            raise UserError(400, "Bad request")
        if any(f.lookup_key == lookup_key for f in _all(Feature)):
            raise UserError(400, "A feature with this lookup_key already exists")
        super().__init__()
        self.name = name
        self.lookup_key = lookup_key
        self.active = True
        self.metadata = metadata or {}


class ProductFeature(StripeObject):
    object = "product_feature"
    _id_prefix = "prodft_"

    def __init__(self, product=None, entitlement_feature=None, **kwargs):
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        Product._api_retrieve(product)
        feature = Feature._api_retrieve(entitlement_feature)
        super().__init__()
        self._product = product
        self.entitlement_feature = feature


class ActiveEntitlement(StripeObject):
    """Computed on each read, never stored (Stripe derives them from subscriptions too)."""

    object = "entitlements.active_entitlement"

    def __init__(self, customer, feature):
        self.id = "ent_" + customer[4:] + "_" + feature.id[5:]
        self.feature = feature.id
        self.lookup_key = feature.lookup_key
        self.livemode = False


def _all(cls):
    return [v for k, v in store.items() if k.startswith(cls.object + ":")]


def _list(url, items, query):
    li = List(url, limit=query.get("limit"), starting_after=query.get("starting_after"))
    li._list = items
    return server.json_response(li._export())


async def create_feature(request):
    data = await server.get_post_data(request) or {}
    return server.json_response(Feature(**data)._export())


def list_features(request):
    q = server.unflatten_data(request.query)
    return _list("/v1/entitlements/features", _all(Feature), q)


async def attach_feature(request):
    data = await server.get_post_data(request) or {}
    pf = ProductFeature(product=request.match_info["id"], **data)
    return server.json_response(pf._export())


def product_features(request):
    product = request.match_info["id"]
    Product._api_retrieve(product)  # 404 when it does not exist
    q = server.unflatten_data(request.query)
    items = [pf for pf in _all(ProductFeature) if pf._product == product]
    return _list(f"/v1/products/{product}/features", items, q)


def active_entitlements(request):
    q = server.unflatten_data(request.query)
    customer = q.pop("customer", None)
    if not isinstance(customer, str):
        raise UserError(400, "Missing required param: customer.")
    resources.Customer._api_retrieve(customer)
    products = set()
    for sub in _all(Subscription):
        if sub.customer == customer and sub.status in ("active", "trialing"):
            products.update(item.plan.product for item in sub.items._list)
    features = {}
    for pf in _all(ProductFeature):
        if pf._product in products:
            features[pf.entitlement_feature.id] = pf.entitlement_feature
    items = [ActiveEntitlement(customer, f) for f in features.values()]
    return _list("/v1/entitlements/active_entitlements", items, q)


def main():
    global STATE
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--from-scratch", action="store_true")
    args = p.parse_args()
    STATE = os.path.abspath(args.state)
    if args.from_scratch and os.path.exists(STATE):
        os.remove(STATE)
    _load()
    r = server.app.router
    r.add_post("/v1/entitlements/features", create_feature)
    r.add_get("/v1/entitlements/features", list_features)
    r.add_get("/v1/entitlements/active_entitlements", active_entitlements)
    r.add_post("/v1/products/{id}/features", attach_feature)
    r.add_get("/v1/products/{id}/features", product_features)
    try:
        # Loopback only (localstripe's own start() binds every address).
        web.run_app(server.app, host="127.0.0.1", port=args.port, access_log=None, print=None)
    finally:
        _flush()


if __name__ == "__main__":
    main()
