"""The `npm start` demo, tested as a user runs it (scripts/test.sh runs this after the build).

1. `npm start -- --once --seed A` and `--seed B`, each on its own folder and free ports: the
   incidents ParityRail finds equal the drift the seeder planted, kind by kind and customer by
   customer (the seeder's expectation, scripts/demo/rules.py, is written from SPEC §6, not from
   the worker); every SPEC §6 kind is planted; the two seeds plant different drift.
2. `npm start -- --seed B` again, in a terminal (a pty): it reuses B's data without seeding,
   prints the summary and serves; Ctrl-C then stops the worker, localstripe and PostgreSQL,
   leaving no process and no listening port behind.

usage: test_demo.py OUT.json   (writes {"passed": n, "failed": m, "tests": [...]})
"""
import json
import os
import pty
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KINDS = ["missing_access", "unpaid_access", "plan_mismatch", "trial_mismatch", "entitlement_mismatch", "unknown_customer"]
SEEDS = (int(os.environ.get("PR_DEMO_TEST_SEED_A", "11")), int(os.environ.get("PR_DEMO_TEST_SEED_B", "4242")))
MARK = "demo-test-" + secrets.token_hex(6)
TIMES = {}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def folder(seed):
    return os.path.join(ROOT, ".tmp", f"demo-test-{seed}")


def env_for(seed, port):
    # As a user's shell: without the variables npm test exports for its own servers.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PR_PG_", "PR_STRIPE_", "PR_VERIFY_"))}
    env.update({"PORT": str(port), "PR_DEMO_DIR": folder(seed), "PR_DEMO_TEST_MARK": MARK})
    env.pop("PR_DEMO_T0_MS", None)
    return env


def leftovers():
    """Processes that belong to a demo this test started (by an environment marker, or a demo
    folder on their command line)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if MARK.encode() in environ or any(folder(s) in cmd for s in SEEDS):
            found.append(f"{pid} {cmd.strip()[:160]}")
    return found


def listening(port):
    s = socket.socket()
    s.settimeout(0.5)
    try:
        return s.connect_ex(("127.0.0.1", port)) == 0
    finally:
        s.close()


def once(seed):
    shutil.rmtree(folder(seed), ignore_errors=True)
    port = free_port()
    t0 = time.time()
    p = subprocess.run(["npm", "start", "--silent", "--", "--once", "--seed", str(seed)], cwd=ROOT,
                       env=env_for(seed, port), capture_output=True, text=True, timeout=600)
    TIMES[f"once_seed_{seed}_s"] = round(time.time() - t0, 1)
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stderr[-3000:]}"
    summary = json.loads(p.stdout)  # --once prints the JSON summary and nothing else on stdout
    with open(os.path.join(folder(seed), "expected.json")) as f:
        planted = json.load(f)
    assert not listening(port), "the worker still listens after --once"
    return summary, planted


def check_found_equals_planted(summary, planted, seed):
    assert summary["seed"] == seed == planted["seed"]
    assert summary["run"]["status"] == "succeeded", summary["run"]
    assert summary["run"]["errors"] == [], summary["run"]["errors"]
    want = {c: v["incidents"] for c, v in planted["customers"].items() if v["incidents"]}
    got = summary["found"]
    # Kind by kind…
    for kind in KINDS:
        w = sorted(c for c, ks in want.items() if kind in ks)
        g = sorted(c for c, ks in got.items() if kind in ks)
        assert w, f"seed {seed} planted no {kind}"
        assert g == w, f"seed {seed}, {kind}: found {len(g)}, planted {len(w)}; only found {sorted(set(g) - set(w))[:5]}, only planted {sorted(set(w) - set(g))[:5]}"
    # …and customer by customer.
    for c in sorted(set(want) | set(got)):
        scenario = planted["customers"].get(c, {}).get("scenario")
        assert got.get(c, []) == want.get(c, []), f"seed {seed}, {c} ({scenario}): found {got.get(c)}, planted {want.get(c)}"
    grace = [c for c, v in planted["customers"].items() if v["scenario"] == "past_due_grace"]
    assert grace and all(planted["customers"][c]["stripe"][0]["status"] == "past_due" for c in grace)
    assert not any(c in got for c in grace), "a past_due customer in grace got an incident"
    assert summary["match"] is True
    assert planted["stripe_customers"] >= 250
    r = summary["pending_repair"]
    assert r and r["status"] == "pending" and r["changes"] and r["statement"]["sql"].startswith("UPDATE "), r


def test_once_seeds(results):
    planted = {}
    for seed in SEEDS:
        name = f"npm start -- --once --seed {seed}: the incidents found equal the planted drift, kind by kind and customer by customer"
        try:
            summary, planted[seed] = once(seed)
            check_found_equals_planted(summary, planted[seed], seed)
            results.append((name, None))
        except Exception:
            results.append((name, traceback.format_exc()))
    name = "two seeds plant different drift"
    try:
        a, b = (planted[s]["customers"] for s in SEEDS)
        assert [v["scenario"] for v in a.values()] != [v["scenario"] for v in b.values()]
        assert planted[SEEDS[0]]["scenarios"] != planted[SEEDS[1]]["scenarios"]
        results.append((name, None))
    except Exception:
        results.append((name, traceback.format_exc()))


def test_reuse_and_ctrl_c(results):
    name = "a second npm start reuses the demo without seeding, and Ctrl-C leaves no process or port behind"
    seed = SEEDS[1]
    port = free_port()
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(ROOT)
        os.execvpe("npm", ["npm", "start", "--", "--seed", str(seed)], env_for(seed, port))
    out = b""
    try:
        t0 = time.time()
        while b"Ctrl-C stops it" not in out:
            if time.time() - t0 > 300:
                raise AssertionError("no summary within 300 s:\n" + out.decode(errors="replace")[-3000:])
            r, _, _ = select.select([fd], [], [], 1)
            if r:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    raise AssertionError("npm start ended early:\n" + out.decode(errors="replace")[-3000:])
        TIMES["reuse_to_summary_s"] = round(time.time() - t0, 1)
        text = out.decode(errors="replace")
        assert "reused" in text, text[-2000:]
        assert "seeded" not in open(os.path.join(folder(seed), "systems.log")).read(), "a reusing start seeded again"
        assert listening(port)
        with open(os.path.join(folder(seed), "stripe", "env")) as f:
            stripe_port = int(re.search(r":(\d+)", f.read()).group(1))
        with open(os.path.join(folder(seed), "pg", "env")) as f:
            pg_port = int(re.search(r"PR_PG_PORT=(\d+)", f.read()).group(1))
        assert listening(stripe_port) and listening(pg_port)
        assert leftovers(), "the marker finds nothing: the leftover check would be blind"
        os.write(fd, b"\x03")  # Ctrl-C, through the terminal: SIGINT to its foreground group
        t1 = time.time()
        while time.time() - t1 < 60:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    pass
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                pid = None
                break
        assert pid is None, "npm start did not end within 60 s of Ctrl-C"
        left = []
        for _ in range(100):  # the processes it stopped may take a moment to go
            left = leftovers()
            if not left:
                break
            time.sleep(0.1)
        TIMES["ctrl_c_to_clean_s"] = round(time.time() - t1, 1)
        assert not left, "left behind after Ctrl-C:\n" + "\n".join(left)
        for p in (port, stripe_port, pg_port):
            assert not listening(p), f"port {p} still listens after Ctrl-C"
        results.append((name, None))
    except Exception:
        results.append((name, traceback.format_exc()))
    finally:
        os.close(fd)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass


def main():
    results = []
    only = os.environ.get("PR_DEMO_TEST_ONLY")  # "once" or "ctrl_c" (the latter reuses seed B's folder)
    if only in (None, "once"):
        test_once_seeds(results)
    if only in (None, "ctrl_c"):
        test_reuse_and_ctrl_c(results)
    for line in leftovers():  # never leave a failed test's processes to the next step
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except OSError:
            pass
    subprocess.run(["bash", "-c", "for d in \"$@\"; do PR_PG_DIR=$d/pg PR_PG_ONLY_MAIN=1 bash scripts/pg.sh stop; done", "_"]
                   + [folder(s) for s in SEEDS], cwd=ROOT)
    passed = sum(1 for _, e in results if e is None)
    for name, err in results:
        print(("ok     " if err is None else "FAILED ") + name)
        if err:
            print(err)
    print(json.dumps({"demo_times": TIMES}))
    with open(sys.argv[1], "w") as f:
        json.dump({"passed": passed, "failed": len(results) - passed, "tests": [n for n, _ in results], "times": TIMES}, f)
    sys.exit(0 if passed == len(results) else 1)


if __name__ == "__main__":
    main()
