#!/usr/bin/env python3
"""Import cycles between the source files of each crate (tests apart).

A file depends on another when it names an item of the other's module: a `use` (groups, `self`,
`as` and globs expanded), a path written in the code (`crate::`, `super::`, `self::`, or a name a
`use` brought in), or a `pub use` re-export. Owning a child (`mod x;`) is not a dependency. The
graph's strongly connected components of more than one file are the cycles; each is printed with
one edge path through it. Exit status 1 when there is any.

    python3 scripts/cycles.py [CRATE_SRC_DIR ...]     (default: core/src src verifier/src)
"""

import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip(text):
    """The code without comments, string and char literals, and inline `#[cfg(test)]` modules."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not re.match(r"\w", text[i - 1:i] or " "):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            i = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""')
        elif c == "b" and text.startswith('b"', i) and not re.match(r"\w", text[i - 1:i] or " "):
            i += 1
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 12]):
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|\\.|[^\\'])'", text[i:])
            i += len(m.group(0)) if m else 1
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return strip_tests("".join(out))


def strip_tests(code):
    """`code` without its inline test modules (`#[cfg(test)] mod name { … }`)."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+" + IDENT + r"\s*\{", code)
        if not m:
            return code
        depth, j = 1, m.end()
        while j < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        code = code[:m.start()] + code[j:]


def modules(root):
    """{module path tuple: file} for a crate whose root is `root/lib.rs` or `root/main.rs`."""
    mods = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), root)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("lib", "main") and len(parts) == 1:
                parts = []
            elif parts[-1] == "mod":
                parts = parts[:-1]
            if "tests" in parts:
                continue
            mods[tuple(parts)] = os.path.join(root, rel)
    return mods


def expand_use(tree):
    """`a::{b, c::{d~as~e, self}}` → [(['a','b'], 'b'), (['a','c','d'], 'e'), (['a','c'], 'c')]
    (the caller writes ` as ` as `~as~` before the spaces go)."""
    tree = re.sub(r"\s+", "", tree)

    def split_top(s):
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            cur += ch
        if cur:
            parts.append(cur)
        return parts

    def go(prefix, s):
        brace = s.find("{")
        if brace >= 0 and s.endswith("}"):
            head = [p for p in s[:brace].split("::") if p]
            res = []
            for item in split_top(s[brace + 1:-1]):
                res += go(prefix + head, item)
            return res
        alias = None
        if "~as~" in s:
            s, alias = s.split("~as~")
        path = prefix + [p for p in s.split("::") if p]
        if path and path[-1] == "self":
            path = path[:-1]
        if not path:
            return []
        return [(path, alias or path[-1])]

    return go([], tree)


def resolve(path, here, mods, crate_names):
    """The module file a path names (its longest module prefix), or None if outside the crate."""
    if not path:
        return None
    head, rest = path[0], path[1:]
    if head == "crate":
        base = ()
    elif head == "self":
        base = here
    elif head == "super":
        base = here
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
        base = base[:-1]
    elif head in crate_names:
        base, rest = crate_names[head], rest
    else:
        return None
    full = tuple(base) + tuple(rest)
    for k in range(len(full), -1, -1):
        if full[:k] in mods:
            return full[:k]
    return None


def graph(root):
    mods = modules(root)
    edges = {m: {} for m in mods}
    for mod, path in mods.items():
        code = strip(open(path, encoding="utf-8").read())
        # Child modules declared here are names in scope too.
        names = {}
        for m in re.finditer(r"\bmod\s+(" + IDENT + r")\s*;", code):
            names[m.group(1)] = mod + (m.group(1),)
        uses = []
        for m in re.finditer(r"\buse\s+([^;]+);", code):
            tree = re.sub(r"\s+as\s+", "~as~", m.group(1).strip())
            if tree.startswith("::"):
                continue
            for p, alias in expand_use(tree):
                uses.append((p, alias))
        for p, alias in uses:
            target = resolve(p, mod, mods, names)
            if target is None:
                continue
            edges[mod].setdefault(target, "use " + "::".join(p))
            # A glob of a module brings its child modules' names too.
            if alias == "*" and len(target) == len([x for x in p if x not in ("crate",)]) - 1:
                for child in mods:
                    if len(child) == len(target) + 1 and child[: len(target)] == target:
                        names.setdefault(child[-1], child)
            # A name for a whole module: paths through it are resolved below.
            if alias != "*" and resolve(p + ["*"], mod, mods, names) == target and len(
                target
            ) and target[-1] == p[-1]:
                names[alias] = target
        for m in re.finditer(r"(?<![\w:])((?:" + IDENT + r"::)+" + IDENT + r")", code):
            p = m.group(1).split("::")
            if p[0] in ("crate", "self", "super"):
                target = resolve(p, mod, mods, {})
            elif p[0] in names:
                target = resolve(["crate"] + list(names[p[0]]) + p[1:], mod, mods, {})
            else:
                continue
            if target is not None:
                edges[mod].setdefault(target, m.group(1))
        edges[mod].pop(mod, None)
    return mods, edges


def sccs(nodes, edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def cycle_path(comp, edges):
    """One cycle through the component's first file, as edges."""
    members, start = set(comp), comp[0]
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in edges[v]:
                if w == start:
                    path, x = [(v, w)], v
                    while prev[x] is not None:
                        path.append((prev[x], x))
                        x = prev[x]
                    return list(reversed(path))
                if w in members and w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return []


def main(roots):
    total = 0
    for root in roots:
        mods, edges = graph(root)
        comps = sccs(sorted(mods), edges)
        files = sum(len(c) for c in comps)
        print(f"{root}: {len(mods)} files, {len(comps)} cycles ({files} files in them)")
        for c in comps:
            total += 1
            print("  cycle of " + ", ".join(sorted(os.path.relpath(mods[m], root) for m in c)))
            for a, b in cycle_path(c, edges):
                print(f"    {os.path.relpath(mods[a], root)} -> {os.path.relpath(mods[b], root)}"
                      f"  ({edges[a][b]})")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["core/src", "src", "verifier/src"]))
