#!/usr/bin/env python3
"""Checks the kernel's module structure: no import circles between files of
src/, and every import points to the same or a lower layer:

    top (main, platform, bringup, report, reloc)
    walk
    mm
    ktest
    sys
    arch

It reads `use` declarations and `crate::`/`super::` paths in the code (text,
not a compiler), resolves each to the file of the module it names, and builds
the file graph. Prints the graph's problems and exits 1 if there are any;
with --graph it also prints every edge.

    python3 scripts/check-layers.py [--graph] [SRC_DIR]
"""
import os
import re
import sys

LAYERS = ["arch", "sys", "ktest", "mm", "walk", "top"]
# Macros exported at the crate root, and the file that defines each.
MACROS = {"println": "sys/console.rs", "print": "sys/console.rs", "ensure": "ktest/mod.rs", "fail": "ktest/mod.rs"}


def layer(rel):
    first = rel.split("/")[0]
    return first if first in LAYERS and "/" in rel else "top"


def module_of(rel):
    """src-relative file -> module path list (crate root = [])."""
    parts = rel[:-3].split("/")
    if parts[-1] in ("mod", "main", "lib"):
        parts = parts[:-1]
    return parts


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    # String literals can hold `crate::`-like text; drop them.
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)


def expand_use(body):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e'] (self kept as the prefix)."""
    body = body.strip()
    m = re.match(r"^(.*?)\{(.*)\}$", body, flags=re.S)
    if not m:
        return [re.sub(r"\s+as\s+\w+$", "", body).strip()]
    prefix, inner = m.group(1), m.group(2)
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    out = []
    for it in items:
        it = it.strip()
        if not it:
            continue
        for sub in expand_use(it):
            out.append(prefix.rstrip(":") if sub == "self" else prefix + sub)
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    show = "--graph" in sys.argv
    src = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                rel = os.path.relpath(os.path.join(root, n), src).replace(os.sep, "/")
                files[rel] = strip_comments(open(os.path.join(root, n)).read())
    by_module = {tuple(module_of(rel)): rel for rel in files}

    def resolve(path, here):
        """A path (list of segments) -> the file of the longest module prefix."""
        if path[0] == "crate":
            segs = path[1:]
        elif path[0] in ("super", "self"):
            base = list(module_of(here))
            if here.endswith("mod.rs") or here == "main.rs":
                base = base  # a mod.rs file is its module
            segs = []
            i = 0
            while i < len(path) and path[i] in ("super", "self"):
                if path[i] == "super":
                    base = base[:-1]
                i += 1
            segs = base + path[i:]
        else:
            return None
        if len(segs) == 1 and segs[0] in MACROS:
            return MACROS[segs[0]]
        for n in range(len(segs), 0, -1):
            f = by_module.get(tuple(segs[:n]))
            if f:
                return f
        return None

    edges = {}
    for rel, text in files.items():
        paths = []
        for m in re.finditer(r"\buse\s+((?:crate|super|self)\b[^;]*);", text):
            paths += expand_use(m.group(1))
        for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)!?", text):
            paths.append(m.group(1))
        # A name brought in by `use` (`use crate::mm;` then `mm::frames::x`)
        # is followed into the path it names.
        imported = {}
        for p in paths:
            segs = [s for s in re.split(r"::", p.replace(" ", "")) if s]
            if len(segs) > 1 and segs[-1] not in ("*", "self"):
                imported[segs[-1]] = segs
        for name, full in imported.items():
            for m in re.finditer(r"(?<![\w:])" + re.escape(name) + r"((?:::\w+)+)", text):
                paths.append("::".join(full) + m.group(1))
        for p in paths:
            segs = [s for s in re.split(r"::", p.replace(" ", "")) if s]
            target = resolve(segs, rel)
            if target and target != rel:
                edges.setdefault(rel, set()).add(target)

    problems = []
    for a, bs in sorted(edges.items()):
        for b in sorted(bs):
            la, lb = LAYERS.index(layer(a)), LAYERS.index(layer(b))
            if lb > la:
                problems.append(f"upward import: src/{a} ({layer(a)}) -> src/{b} ({layer(b)})")

    # Circles: strongly connected components with more than one file.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
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
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(files):
        if v not in index:
            strong(v)
    for comp in sccs:
        problems.append("import circle: " + " <-> ".join("src/" + c for c in comp))

    if show:
        for a, bs in sorted(edges.items()):
            print(f"src/{a} -> " + ", ".join("src/" + b for b in sorted(bs)))
    nedges = sum(len(b) for b in edges.values())
    if problems:
        for p in problems:
            print("check-layers:", p)
        print(f"check-layers: {len(problems)} problem(s) in {len(files)} files, {nedges} imports")
        return 1
    print(f"check-layers: {len(files)} files, {nedges} imports, no circles, every import points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
