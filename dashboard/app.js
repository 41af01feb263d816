// ParityRail dashboard: plain ES modules over the JSON API. Boot: take an e-mail link's token
// out of the address bar, read the session (GET /v1/session), then route.

import { api, setSession, ApiError } from "./api.js";
import { route, start } from "./router.js";
import { showError } from "./ui.js";
import { signIn, emailLanding, captureToken } from "./views/auth.js";
import { projects, projectHome, incidents, incident } from "./views/incidents.js";
import { repairs, repair } from "./views/repairs.js";
import { runs, run } from "./views/runs.js";
import { audit, ledger, ledgerLookup } from "./views/audit.js";
import { integrations, keys, webhooks } from "./views/admin.js";

captureToken();

route("/", signIn, { public: true });
route("/signin/email", emailLanding, { public: true });
route("/projects", projects);
route("/keys", keys);
route("/projects/:pid", projectHome);
route("/projects/:pid/incidents", incidents);
route("/projects/:pid/incidents/:iid", incident);
route("/projects/:pid/repairs", repairs);
route("/projects/:pid/repairs/:rid", repair);
route("/projects/:pid/customers", ledgerLookup);
route("/projects/:pid/customers/:cus/ledger", ledger);
route("/projects/:pid/runs", runs);
route("/projects/:pid/runs/:rid", run);
route("/projects/:pid/integrations", integrations);
route("/projects/:pid/audit", audit);
route("/projects/:pid/webhooks", webhooks);

async function boot() {
  let failure = null;
  try {
    const r = await api("GET", "/v1/session");
    setSession(r && r.session);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) failure = e;
  }
  await start();
  if (failure) showError(failure);
}

boot().catch((e) => showError(new ApiError(0, "client_error", (e && e.message) || "The dashboard failed to start.")));
