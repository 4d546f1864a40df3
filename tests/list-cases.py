#!/usr/bin/env python3
"""Prints the test cases of a test folder, one per line: FILE, TAB, CASE (and for node files a
TAB and a --test-name-pattern that matches that case alone).

meson runs it at configure time (tests/integration/meson.build, tests/browser/meson.build) and
registers one meson test per line, so a new case runs without editing a list. The files are read,
never imported or run:

- test_*.py: the unittest cases, CLASS.METHOD, of the classes whose methods are named test_*
  (a class also gets the test_* methods of the classes it derives from in the same file).
- *.test.mjs: the names of node:test's top-level test('NAME', ...) calls. NAME must be a plain
  string literal (no ${...}), so that it is known without running the file; the file fails here
  otherwise.

Usage: list-cases.py DIR   (its test_*.py and *.test.mjs files, in name order; exit 1 with a
message on a file it cannot read this way, or when there is none)
"""
import ast
import os
import re
import sys


def python_cases(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}

    def tests_of(cls, seen=()):
        names = []
        for base in cls.bases:
            if isinstance(base, ast.Name) and base.id in classes and base.id not in seen:
                names += tests_of(classes[base.id], seen + (cls.name,))
        for item in cls.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test_"):
                if item.name not in names:
                    names.append(item.name)
        return names

    cases = []
    for cls in classes.values():
        cases += ["%s.%s" % (cls.name, name) for name in tests_of(cls)]
    return cases


# A top-level test( call: not a method (t.test, /re/.test) and not part of a longer name.
NODE_TEST = re.compile(r"(?<![\w.$])test\(\s*(['\"`])((?:\\.|(?!\1).)*)\1", re.S)


def node_cases(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    cases = []
    for m in NODE_TEST.finditer(text):
        quote, name = m.group(1), m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        if quote == "`" and "${" in name:
            raise ValueError("%s:%d: test name %s%s%s is computed; give each case a literal name"
                             % (path, line, quote, name, quote))
        name = re.sub(r"\\(.)", r"\1", name)
        if not name or "\t" in name or "\n" in name:
            raise ValueError("%s:%d: test name %r cannot be a meson test name" % (path, line, name))
        if name in cases:
            raise ValueError("%s:%d: two tests are named %r" % (path, line, name))
        cases.append(name)
    return cases


def name_pattern(name):
    """A JavaScript regular expression matching exactly `name` (node --test-name-pattern)."""
    return "^" + re.sub(r"[\\^$.*+?()[\]{}|/-]", lambda m: "\\" + m.group(0), name) + "$"


def main(folder):
    try:
        files = sorted(f for f in os.listdir(folder)
                       if (f.startswith("test_") and f.endswith(".py")) or f.endswith(".test.mjs"))
        if not files:
            raise ValueError("%s: no test_*.py or *.test.mjs files" % folder)
        for base in files:
            path = os.path.join(folder, base)
            if base.endswith(".py"):
                cases = python_cases(path)
            else:
                cases = node_cases(path)
            if not cases:
                raise ValueError("%s: no test cases found" % path)
            for case in cases:
                if base.endswith(".py"):
                    print("%s\t%s" % (base, case))
                else:
                    print("%s\t%s\t%s" % (base, case, name_pattern(case)))
    except (OSError, SyntaxError, ValueError) as e:
        print("list-cases.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: list-cases.py DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
