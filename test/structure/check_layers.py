#!/usr/bin/env python3
"""The layering, checked: which folder may include which, and file sizes.

  check_layers.py [--root DIR] [--graph] [--self-test]

Each source folder is one library target (docs/ARCHITECTURE.md). A folder may
include its own headers and those of the folders listed for it in ALLOWED,
nothing else: no include runs back up, the core links no Asio, and the lock
service needs nothing of the Paxos core. No .cpp in server/ or http/ is over
MAX_LINES lines (issue 15: room in the outer layers). --graph prints the
include graph between folders (edges with their include counts) and exits.
Exit status 1 names every breach, file and line. --self-test runs the check
on a small planted tree and fails unless it finds each planted breach.
"""
import argparse
import os
import re
import sys
import tempfile

# The folders, lowest first, and what each may include.
ALLOWED = {
    "base": set(),
    "paxos": {"base"},
    "lockservice": {"base"},
    "tools/lincheck": {"base"},
    "zookeeper": {"base"},  # the jute codec and ZooKeeper's records, pure
    "persistence": {"base", "paxos"},
    "net": set(),  # Asio helpers the two Asio users share
    "tls": set(),  # TLS contexts, certificate identities and their reload (OpenSSL, Asio SSL)
    "transport": {"base", "paxos", "net", "tls"},
    "http/text": set(),
    "http": {"base", "lockservice", "http/text", "net", "tls"},
    # the ZooKeeper listener: ZooKeeper's records, and the node through zkserver/zk_node.h
    "zkserver": {"base", "lockservice", "zookeeper", "net", "tls"},
    "server": {"base", "paxos", "lockservice", "persistence", "transport", "http", "http/text", "tls", "zkserver"},
    # synodctl: the HTTP client and the text codecs, and lockservice (backup files).
    "cli": {"base", "http", "http/text", "lockservice"},
}
# Third-party headers a folder must never include.
FORBIDDEN_SYSTEM = {
    "base": ("boost/", "lmdb.h", "nlohmann/"),
    "paxos": ("boost/", "lmdb.h", "nlohmann/"),
    "lockservice": ("boost/", "lmdb.h"),
    "zookeeper": ("boost/", "lmdb.h", "nlohmann/"),
    "persistence": ("boost/",),
    "http/text": ("boost/", "nlohmann/"),
}
# Folders whose .cpp files must stay small enough to change safely.
SIZE_CHECKED = ("server", "http")
MAX_LINES = 800
SOURCE = re.compile(r"\.(cpp|h)$")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')


def folder_of(path):
    """The module a repository-relative path belongs to (longest match), or None."""
    best = None
    for folder in ALLOWED:
        if path == folder or path.startswith(folder + "/"):
            if best is None or len(folder) > len(best):
                best = folder
    return best


def sources(root):
    for folder in ALLOWED:
        top = os.path.join(root, folder)
        for here, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if not d.startswith("build"))
            for name in sorted(files):
                if SOURCE.search(name):
                    path = os.path.relpath(os.path.join(here, name), root)
                    if folder_of(path) == folder:
                        yield folder, path


def check(root):
    """Returns (files checked, problems, folder edges)."""
    problems = []
    edges = {}
    files = 0
    for folder, path in sources(root):
        files += 1
        with open(os.path.join(root, path), encoding="utf-8") as f:
            lines = f.readlines()
        if folder in SIZE_CHECKED and path.endswith(".cpp") and len(lines) > MAX_LINES:
            problems.append(f"{path}: {len(lines)} lines, over {MAX_LINES}: split it by job")
        for number, line in enumerate(lines, 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            quote, header = match.groups()
            if quote == "<":
                for bad in FORBIDDEN_SYSTEM.get(folder, ()):
                    if header.startswith(bad):
                        problems.append(f"{path}:{number}: {folder}/ must not include <{header}>")
                continue
            target = folder_of(header)
            if target is None:
                continue  # a test or generated header is not a module's
            if target != folder:
                edges[(folder, target)] = edges.get((folder, target), 0) + 1
                if target not in ALLOWED[folder]:
                    problems.append(f'{path}:{number}: {folder}/ may not include "{header}" ({target}/); '
                                    f"allowed: {', '.join(sorted(ALLOWED[folder])) or 'nothing'}")
    return files, problems, edges


def self_test():
    """Plants one breach of each kind in a small tree; each must be reported."""
    planted = {
        "base/assert.h": "#pragma once\n",
        "paxos/replica.cpp": '#include "base/assert.h"\n#include <boost/asio.hpp>\n',
        "lockservice/machine.cpp": '#include "paxos/replica.h"\n',
        "server/node.cpp": '#include "http/api.h"\n' + "int x;\n" * MAX_LINES,
        "http/api.cpp": '#include "server/node.h"\n',
    }
    expected = ["paxos/replica.cpp:2", "lockservice/machine.cpp:1", "server/node.cpp: 801 lines", "http/api.cpp:1"]
    with tempfile.TemporaryDirectory() as root:
        for path, text in planted.items():
            os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
            with open(os.path.join(root, path), "w", encoding="utf-8") as f:
                f.write(text)
        _, problems, _ = check(root)
    missed = [e for e in expected if not any(p.startswith(e) for p in problems)]
    for problem in problems:
        print("found:", problem)
    if missed or len(problems) != len(expected):
        print(f"self-test FAILED: missed {missed}, {len(problems)} problems for {len(expected)} planted")
        return 1
    print(f"self-test: all {len(expected)} planted breaches found")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    parser.add_argument("--graph", action="store_true")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    root = os.path.abspath(args.root)
    files, problems, edges = check(root)
    if args.graph:
        for (source, target), count in sorted(edges.items()):
            print(f"{source} -> {target}  ({count})")
        return 0
    if files == 0:
        print(f"no sources found under {root}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem)
    print(f"{files} files checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
