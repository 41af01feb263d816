"""The code's layout, held (issue 20): what the compiler cannot see.

- No import cycle between the files of any crate (scripts/cycles.py), and the cycle finder
  itself finds the cycles it must (through `use super::`, a parent's re-export, an inline
  path, a module alias and a glob) and none where there is none.
- No source file over 600 lines (tests apart); the Durable Object's file at most 200.
- The Workers adapter (the root crate) at most 45% of the non-test source lines.
- The core crates do not depend on `worker`, on any target.
- What the type system cannot confine is confined by name: only the platform's entry points
  (the cron handler, the Durable Object) make an `EntryPoint`; only system work (jobs, the
  coordinator) reaches tenants by stored ids; only the coordinator client opens a coordinator;
  only authentication seals a caller;
  no adapter code conjures a platform value (`unchecked_into`, `worker_sys`, `State::from`,
  `ScheduleContext::from`) from which an `EntryPoint` could be forged.

usage: test_layout.py [OUT.json]   (writes {"passed": n, "failed": m, "tests": [...]})
"""
import json
import os
import subprocess
import sys
import tempfile
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import cycles  # noqa: E402

CRATES = {"core": "core/src", "adapter": "src", "verifier": "verifier/src"}
MAX_LINES = 600
MAX_DO_LINES = 200
MAX_ADAPTER_SHARE = 0.45


def source_lines(root):
    """{file: lines} of a crate's non-test source (test files and inline test modules apart)."""
    out = {}
    for mod, path in cycles.modules(os.path.join(ROOT, root)).items():
        text = open(path, encoding="utf-8").read()
        out[os.path.relpath(path, ROOT)] = len(cycles.strip_tests(text).splitlines())
    return out


def crate(files):
    d = tempfile.mkdtemp(prefix="layout-")
    for name, text in files.items():
        p = os.path.join(d, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    return d


def cycle_files(files):
    root = crate(files)
    mods, edges = cycles.graph(root)
    return sorted(sorted(os.path.relpath(mods[m], root) for m in c) for c in cycles.sccs(sorted(mods), edges))


def test_no_crate_has_an_import_cycle():
    for name, root in CRATES.items():
        mods, edges = cycles.graph(os.path.join(ROOT, root))
        found = cycles.sccs(sorted(mods), edges)
        assert not found, f"{name}: " + "; ".join(", ".join(os.path.relpath(mods[m], ROOT) for m in c) for c in found)


def test_the_cycle_finder_sees_a_child_using_its_parent():
    got = cycle_files({
        "lib.rs": "mod a;\n",
        "a/mod.rs": "mod b;\npub use b::Thing;\npub struct Other;\n",
        "a/b.rs": "use super::Other;\npub struct Thing(Other);\n",
    })
    assert got == [["a/b.rs", "a/mod.rs"]], got


def test_the_cycle_finder_sees_inline_paths_aliases_and_globs():
    got = cycle_files({
        "lib.rs": "mod x;\nmod y;\nmod z;\nmod w;\n",
        # x -> y by an inline path; y -> z through a module alias; z -> x through a glob's module.
        "x.rs": "pub fn f() { crate::y::g(); }\n",
        "y.rs": "use crate::z;\npub fn g() { z::h(); }\n",
        "z.rs": "use crate::*;\npub fn h() { x::f(); }\n",
        "w.rs": "// crate::x::f() in a comment is no dependency\npub fn k() { let _ = \"crate::x::f\"; }\n",
    })
    assert got == [["x.rs", "y.rs", "z.rs"]], got


def test_the_cycle_finder_ignores_tests_and_ownership():
    got = cycle_files({
        "lib.rs": "mod a;\nmod b;\n",
        "a/mod.rs": "mod c;\nuse crate::b::B;\npub struct A(B);\n#[cfg(test)]\nmod tests { use crate::a::c::C; }\n",
        "a/c.rs": "pub struct C;\n",
        "a/tests.rs": "use super::*;\n",
        "b.rs": "pub struct B;\n#[cfg(test)]\nmod tests { use crate::a::A; }\n",
    })
    assert got == [], got


def test_no_source_file_is_over_600_lines_and_the_durable_object_is_thin():
    big = []
    for root in CRATES.values():
        for f, n in source_lines(root).items():
            if n > MAX_LINES:
                big.append(f"{f}: {n}")
    assert not big, "over 600 lines: " + ", ".join(big)
    # The object itself (src/coordinator/object.rs since the coordinator is its own worker; its
    # mod.rs only says which of its files each worker builds).
    do = [f for f in source_lines("src") if f in ("src/coordinator/object.rs",)]
    assert do, "the coordinator's file is gone"
    n = source_lines("src")[do[0]]
    assert n <= MAX_DO_LINES, f"{do[0]}: {n} lines"


def test_the_adapter_is_at_most_45_percent_of_the_source():
    adapter = sum(source_lines("src").values())
    total = adapter + sum(source_lines("core/src").values())
    share = adapter / total
    print(f"adapter {adapter} of {total} non-test lines ({share:.1%})")
    assert share <= MAX_ADAPTER_SHARE, f"the adapter is {share:.1%} of {total} lines"


def test_the_core_never_depends_on_worker():
    for target in (None, "wasm32-unknown-unknown"):
        cmd = ["cargo", "tree", "-p", "parityrail-core", "-e", "normal", "--prefix", "none", "--locked"]
        if target:
            cmd += ["--target", target]
        tree = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
        names = {line.split(" ")[0] for line in tree.splitlines() if line.strip()}
        assert "worker" not in names, sorted(names)
        assert "parityrail" not in names


def uses(needle, root="src"):
    """The files of the adapter whose code (comments and strings apart) names `needle`."""
    found = set()
    for mod, path in cycles.modules(os.path.join(ROOT, root)).items():
        if needle in cycles.strip(open(path, encoding="utf-8").read()):
            found.add(os.path.relpath(path, ROOT))
    return found


def test_system_powers_are_confined_to_the_system_entry_points():
    allowed = {
        "EntryPoint::": {"src/entry.rs", "src/coordinator/object.rs", "src/auth/grants.rs"},
        "SystemGrant::for_entry_point": {"src/entry.rs", "src/coordinator/object.rs"},
        "system_tenant(": {"src/auth/system.rs", "src/jobs.rs", "src/coordinator/steps.rs", "src/coordinator/approvals.rs", "src/checkpoints/sign.rs", "src/webhooks/record.rs"},
        "system_project(": {"src/auth/system.rs", "src/jobs.rs", "src/coordinator/steps.rs", "src/coordinator/approvals.rs", "src/checkpoints/sign.rs", "src/webhooks/record.rs"},
        "system_tenants(": {"src/auth/system.rs", "src/jobs.rs", "src/checkpoints/sign.rs"},
        ".coordinators()": {"src/coordinator/client.rs"},
        # A sealed caller is made from an authenticated principal only.
        "CallerSeal {": {"src/auth/principal.rs"},
    }
    for needle, files in allowed.items():
        extra = uses(needle) - files
        assert not extra, f"{needle} used in {sorted(extra)}"
    for needle in ("unchecked_into", "worker_sys", "State::from", "ScheduleContext::from"):
        assert not uses(needle), f"{needle} used in {sorted(uses(needle))}"
    # In the core, only its definition names the seal's fields.
    sealed = uses("CallerSeal {", "core/src") - {"core/src/api/coordinator.rs"}
    assert not sealed, f"CallerSeal built in {sorted(sealed)}"


def test_the_confinement_check_sees_a_use_and_ignores_comments():
    root = crate({
        "lib.rs": "mod a;\nmod b;\n",
        "a.rs": "// EntryPoint::cron(&x) in a comment\npub fn f() { let _ = \"EntryPoint::cron\"; }\n",
        "b.rs": "pub fn g() { let _ = EntryPoint::cron(&x); }\n",
    })
    found = set()
    for mod, path in cycles.modules(root).items():
        if "EntryPoint::" in cycles.strip(open(path).read()):
            found.add(os.path.relpath(path, root))
    assert found == {"b.rs"}, found


def main():
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]
    results = []
    for name, fn in tests:
        try:
            fn()
            results.append((name, None))
            print(f"ok   {name}")
        except Exception as e:  # noqa: BLE001
            results.append((name, e))
            print(f"FAIL {name}\n{traceback.format_exc()}")
    passed = sum(1 for _, e in results if e is None)
    print(f"{passed} passed, {len(results) - passed} failed")
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            json.dump({"passed": passed, "failed": len(results) - passed, "tests": [n for n, _ in results]}, f)
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
