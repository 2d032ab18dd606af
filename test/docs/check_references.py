#!/usr/bin/env python3
"""Checks that every reference to the design or the style notes resolves.

Code, docs and CMake cite docs/DESIGN.md and docs/STYLE.md by section:
"DESIGN §3", "DESIGN.md §3", "(DESIGN §6, §7)", "DESIGN §3 and §5",
"DESIGN section 7", and the same with STYLE. A section exists when its file
has a heading "## N. Title" or a numbered item "N. " at the start of a line
(STYLE's "What we do" items). A path to the old copies outside the
repository (the shared folder beside the checkouts) does not resolve either.

    check_references.py [--root DIR]      scan the tree; exit 1 naming FILE:LINE for each bad one
    check_references.py --self-test       plant a bad reference in a temporary tree: it must be found

The files scanned are those `git ls-files` lists when DIR is a git checkout;
otherwise every file under DIR, skipping build folders (build*, any folder
with a CMakeCache.txt), .git and __pycache__. Binary files are skipped.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

DOCUMENTS = {"DESIGN": "docs/DESIGN.md", "STYLE": "docs/STYLE.md"}

# "DESIGN §3", "DESIGN.md §3", "DESIGN section 3", then any ", §N" or " and §N".
REFERENCE = re.compile(
    r"\b(?P<doc>DESIGN|STYLE)(?:\.md)?[ \t]*(?:§[ \t]*|section[ \t]+)(?P<first>\d+)"
    r"(?P<more>(?:[ \t]*(?:,|and|&)[ \t]*§[ \t]*\d+)*)")
MORE_NUMBER = re.compile(r"§[ \t]*(\d+)")
OUTSIDE_COPY = re.compile(r"shared/(?:DESIGN|STYLE)\.md")
SECTION = re.compile(r"^(?:#{1,6}[ \t]+)?(\d+)\.[ \t]")


def sections_of(path):
    """The section numbers a document defines: '## N. ' headings and 'N. ' items."""
    numbers = set()
    with open(path, encoding="utf-8") as f:
        in_code = False
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
                continue
            match = None if in_code else SECTION.match(line)
            if match:
                numbers.add(int(match.group(1)))
    return numbers


def is_build_dir(path, name):
    return name.startswith("build") or os.path.exists(os.path.join(path, "CMakeCache.txt"))


def files_to_scan(root):
    if os.path.exists(os.path.join(root, ".git")):
        try:
            out = subprocess.run(["git", "-C", root, "ls-files", "-z"], check=True, capture_output=True).stdout
            return [name for name in out.decode("utf-8", "replace").split("\0") if name]
        except (OSError, subprocess.CalledProcessError):
            pass  # no git, or not really a checkout: walk the tree instead
    found = []
    for path, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs
                         if d not in (".git", "__pycache__") and not is_build_dir(os.path.join(path, d), d))
        for name in sorted(names):
            found.append(os.path.relpath(os.path.join(path, name), root))
    return found


def read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None  # listed by git but deleted in the work tree
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def check(root):
    """Returns (problems, references checked); each problem is 'FILE:LINE: why'."""
    problems = []
    sections = {}
    for doc, relative in DOCUMENTS.items():
        path = os.path.join(root, relative)
        if not os.path.isfile(path):
            problems.append(f"{relative}: missing, so no {doc} §N can resolve")
            sections[doc] = set()
        else:
            sections[doc] = sections_of(path)
    checked = 0
    for name in files_to_scan(root):
        text = read_text(os.path.join(root, name))
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            for match in OUTSIDE_COPY.finditer(line):
                checked += 1
                problems.append(f"{name}:{number}: '{match.group(0)}' is outside the repository; "
                                f"cite docs/{match.group(0).split('/')[-1]}")
            for match in REFERENCE.finditer(line):
                doc = match.group("doc")
                cited = [int(match.group("first"))] + [int(n) for n in MORE_NUMBER.findall(match.group("more"))]
                for section in cited:
                    checked += 1
                    if section not in sections[doc]:
                        have = ", ".join(f"§{n}" for n in sorted(sections[doc])) or "none"
                        problems.append(f"{name}:{number}: {doc} §{section} does not exist in "
                                        f"{DOCUMENTS[doc]} (it has {have}): '{match.group(0)}'")
    return problems, checked


def report(root):
    problems, checked = check(root)
    for problem in problems:
        print(problem)
    if checked == 0:
        print(f"no DESIGN or STYLE references found under {root}: the scan itself is broken")
        return 1
    if problems:
        print(f"{len(problems)} of {checked} references do not resolve")
        return 1
    print(f"all {checked} DESIGN and STYLE references resolve")
    return 0


def self_test():
    """A tree with good references and planted bad ones: exactly the bad ones must be named.

    The texts below write @ for the section sign and ^ for the outside path,
    so that this file, which the real scan reads too, cites nothing itself.
    """
    with tempfile.TemporaryDirectory(prefix="synod-refs-") as root:
        files = {
            "docs/DESIGN.md": "# design\n\n## 1. One\n\n```\n## 9. not a section (code)\n```\n## 2. Two\n",
            "docs/STYLE.md": "# style\n\n## What we do\n\n1. **First.**\n2. **Second.**\n",
            "good.cpp": "// (DESIGN @1) and DESIGN.md @2, DESIGN @1, @2, STYLE @2, DESIGN section 1\n",
            "bad.cpp": "// fine: DESIGN @2\n// planted: DESIGN @3\n",
            "bad.md": "STYLE @7 and (DESIGN @1, @9)\nsee ../^/DESIGN.md\n",
            "build/ignored.cpp": "// a build folder is not scanned: DESIGN @5\n",
        }
        for name, text in files.items():
            text = text.replace("@", "\u00a7").replace("^", "shared")
            os.makedirs(os.path.dirname(os.path.join(root, name)) or root, exist_ok=True)
            with open(os.path.join(root, name), "w", encoding="utf-8") as f:
                f.write(text)
        problems, checked = check(root)
        where = sorted(p.split(": ")[0] for p in problems)
        expected = ["bad.cpp:2", "bad.md:1", "bad.md:1", "bad.md:2"]
        if where != expected or checked != 12:
            print(f"self-test FAILED: found {where} of {checked} references, expected {expected} of 12")
            for problem in problems:
                print("  " + problem)
            return 1
        print(f"self-test passed: the {len(expected)} planted bad references were named, the good ones were not")
        return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."),
                        help="the source tree (default: this script's repository)")
    parser.add_argument("--self-test", action="store_true", help="check that a planted bad reference is found")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    return report(os.path.abspath(args.root))


if __name__ == "__main__":
    sys.exit(main())
