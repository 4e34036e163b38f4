#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Fails when modules of the workspace import each other in a circle.

Every crate of the workspace (the plugin, its programs, their binaries,
examples and integration tests) is read file by file; a file is a module. An edge A -> B is any `use` of, or path through,
B written in A (`crate::`, `super::`, `self::`, in code or in tests). Names
re-exported by a parent (`pub use geometry::Geometry` in `delta/mod.rs`)
are followed to the module that defines them, so a facade is not a circle.
A parent declaring its children (`mod x;`) is structure, not an import.

The one allowed circle: the files of one element folder (`imp.rs` and its
helpers with `mod.rs`), which is one element cut into files
(docs/architecture.md, "Layers").

usage: scripts/check-imports.py [--graph]   (--graph prints every edge)
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Every crate of the workspace's members (root Cargo.toml): (name, directory
# of its sources, root file). Each root file is a crate of its own (a
# library, or a binary).
def crates():
    found = []
    manifest = open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8").read()
    members = re.search(r"^members\s*=\s*\[([^\]]*)\]", manifest, re.M).group(1)
    for member in re.findall(r'"([^"]+)"', members):
        src = os.path.join(ROOT, member, "src")
        for root in ["lib.rs", "main.rs"]:
            if os.path.exists(os.path.join(src, root)):
                found.append((f"{member}:{root}", src, root))
        # binaries, examples and integration tests: a crate each
        for sub in [os.path.join("src", "bin"), "examples", "tests"]:
            folder = os.path.join(ROOT, member, sub)
            if not os.path.isdir(folder):
                continue
            for entry in sorted(os.listdir(folder)):
                path = os.path.join(folder, entry)
                if entry.endswith(".rs"):
                    found.append((f"{member}:{sub}/{entry}", folder, entry))
                elif os.path.exists(os.path.join(path, "main.rs")):
                    found.append((f"{member}:{sub}/{entry}", path, "main.rs"))
    return found


MOD_DECL = re.compile(r"^\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;")
INLINE_MOD = re.compile(r"^\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*\{")
PATH = re.compile(r"(?<![\w:])((?:crate|super|self)(?:::\w+)+)")
# a path that starts with a name: a child module's when the name is one
RELATIVE = re.compile(r"(?<![\w:])([a-z_]\w*(?:::\w+)+)")


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    lines = []
    for line in text.split("\n"):
        # drop // comments, keeping string contents crudely intact
        idx = line.find("//")
        if idx >= 0 and line[:idx].count('"') % 2 == 0:
            line = line[:idx]
        lines.append(line)
    return "\n".join(lines)


def module_files(src, root_file):
    """Module path (tuple) -> file, following `mod x;` declarations."""
    modules = {}

    def visit(path, modpath, children_dir):
        modules[modpath] = path
        text = strip_comments(open(path, encoding="utf-8").read())
        for line in text.split("\n"):
            m = MOD_DECL.match(line)
            if not m:
                continue
            name = m.group(1)
            for cand in [os.path.join(children_dir, name + ".rs"),
                         os.path.join(children_dir, name, "mod.rs")]:
                if os.path.exists(cand):
                    sub_children = os.path.join(children_dir, name)
                    visit(cand, modpath + (name,), sub_children)
                    break

    visit(os.path.join(src, root_file), (), src)
    return modules


def expand_use(tree):
    """`a::{b, c::{self, d}}` -> ['a::b', 'a::c', 'a::c::d']."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def split_top(s):
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        return parts

    def walk(prefix, s):
        s = re.sub(r"\bas[A-Za-z_]\w*$", "", s)
        brace = s.find("{")
        if brace < 0:
            full = prefix + s
            full = re.sub(r"::self$", "", full)
            full = re.sub(r"::\*$", "", full)
            out.append(full)
            return
        head = s[:brace]
        body = s[brace + 1 : s.rfind("}")]
        for part in split_top(body):
            walk(prefix + head, part)

    walk("", tree)
    return out


def file_paths(text, modpath_of_file, modules):
    """(module path the reference is written in, path string) pairs."""
    refs = []
    # track inline modules to resolve super:: inside `mod tests { }`
    stack = []  # (name, depth at open)
    depth = 0
    pending_use = None
    for line in text.split("\n"):
        m = INLINE_MOD.match(line)
        if m:
            stack.append((m.group(1), depth))
        here = modpath_of_file + tuple(n for n, _ in stack)
        # `use` statements may span lines
        if pending_use is not None:
            pending_use += line
        else:
            um = re.match(r"^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+(.*)$", line)
            if um:
                pending_use = um.group(1)
        if pending_use is not None and ";" in pending_use:
            body = pending_use.split(";")[0]
            for p in expand_use(body):
                if p.startswith(("crate::", "super::", "self::")) or p in ("super", "self"):
                    refs.append((here, p))
                elif here + (p.split("::")[0],) in modules:
                    refs.append((here, "self::" + p))
            pending_use = None
        elif pending_use is None:
            for p in PATH.findall(line):
                refs.append((here, p))
            for p in RELATIVE.findall(line):
                if here + (p.split("::")[0],) in modules:
                    refs.append((here, "self::" + p))
        for ch in line:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                while stack and depth <= stack[-1][1]:
                    stack.pop()
    return refs


def resolve(here, path, modules, reexports):
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    else:
        base = here
        rest = parts
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    cur = base
    for name in rest:
        if cur + (name,) in modules:
            cur = cur + (name,)
            continue
        # a name re-exported by cur from one of its modules
        target = reexports.get(cur, {}).get(name)
        if target is not None:
            return target
        break
    return cur


def file_of(modpath, modules):
    while modpath not in modules:
        modpath = modpath[:-1]
    return modpath


def graph_for(src, root_file):
    modules = module_files(src, root_file)
    texts = {mp: strip_comments(open(f, encoding="utf-8").read()) for mp, f in modules.items()}
    refs = {mp: file_paths(texts[mp], mp, modules) for mp in modules}
    # re-exports: `pub use x::Name` in a module -> Name defined in module x
    reexports = {}
    for _ in range(3):  # chains of re-exports settle in a few passes
        for mp, text in texts.items():
            for um in re.finditer(r"pub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
                for p in expand_use(um.group(1)):
                    name = p.split("::")[-1]
                    full = p
                    if not p.startswith(("crate", "super", "self")):
                        full = "self::" + p
                    target = resolve(mp, full, modules, reexports)
                    target = file_of(target, modules)
                    if target != mp:
                        reexports.setdefault(mp, {})[name] = target
    edges = {mp: set() for mp in modules}
    for mp, lst in refs.items():
        for here, p in lst:
            target = file_of(resolve(here, p, modules, reexports), modules)
            src_file = file_of(here, modules)
            if target == src_file:
                continue
            edges[src_file].add(target)
    return modules, edges


def sccs(nodes, edges):
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    sys.setrecursionlimit(10000)

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
            out.append(comp)

    for v in nodes:
        if v not in index:
            strong(v)
    return out


def main():
    show = "--graph" in sys.argv
    status = 0
    for name, src, root_file in crates():
        modules, edges = graph_for(src, root_file)
        rel = lambda mp: os.path.relpath(modules[mp], ROOT)
        if show:
            for a in sorted(edges):
                for b in sorted(edges[a]):
                    print(f"{rel(a)} -> {rel(b)}")
        for comp in sccs(list(modules), edges):
            if len(comp) < 2:
                continue
            dirs = {os.path.dirname(rel(m)) for m in comp}
            element_folder = len(dirs) == 1 and all(
                os.path.exists(os.path.join(ROOT, d, f)) for d in dirs for f in ("mod.rs", "imp.rs")
            )
            if element_folder:
                continue
            status = 1
            print(f"check-imports: {name}: modules import each other in a circle:")
            for m in sorted(comp, key=rel):
                inside = sorted(rel(t) for t in edges[m] if t in comp)
                print(f"  {rel(m)} -> {', '.join(inside)}")
    if status == 0:
        print("check-imports: ok: no two modules of the workspace import each other")
    return status


if __name__ == "__main__":
    sys.exit(main())
