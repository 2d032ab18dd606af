#!/usr/bin/env python3
"""The packaged configuration documents every option of `synod --help` (issue 21).

    python3 test/package/check_conf.py --synod build/server/synod [--conf deploy/synod.conf]
    python3 test/package/check_conf.py --synod build/server/synod --self-test

deploy/synod.conf becomes /etc/synod/synod.conf in the Debian package. It is
written by hand (grouped, with notes for operators), so this check keeps it
from drifting from the binary. An entry is a line `name = value` (set) or
`# name = value` (commented out), or for a switch `name` / `# name`, where
name is an option of `synod --help` with '_' for '-' (any other comment of a
single word is prose). It requires:

  - every option of `synod --help` but --config has exactly one entry, and
    every entry names an option;
  - the comment lines right above an entry hold the option's --help text
    (without its "(default X)"), word for word, so the file says what the
    binary says;
  - a commented-out entry of an option whose --help shows a default shows that
    default, so the file never claims a default the binary does not have;
  - a switch has no '=' (one way to write it: alone on its line, commented
    out when off; before 0.2.0 the file reader turned a switch on for any
    value, `= false` included);
  - an option that takes a value has one.

On a failure it prints, for a missing option, the block to paste.
--self-test plants each kind of error in a copy and requires the check to name
it, so the check can fail. Exit status 0 when the file is complete.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))
# --config names the file itself; it has no place in it.
NOT_IN_FILE = {"config"}
ENTRY = re.compile(r"^(#\s?)?([a-z][a-z0-9_]*)(\s*=\s*(.*?))?\s*$")


class Option:
    def __init__(self, name, takes_value, help_text, default):
        self.name = name
        self.key = name.replace("-", "_")
        self.takes_value = takes_value
        self.help = help_text
        self.default = default


def help_options(synod):
    """The options `synod --help` lists, in its order."""
    text = subprocess.run([synod, "--help"], check=True, capture_output=True, text=True, timeout=30).stdout
    if "options:\n" not in text:
        raise SystemExit(f"{synod} --help printed no 'options:' section:\n{text}")
    options = []
    for match in re.finditer(r"^  --([a-z0-9-]+)( [A-Z]+)?\n      (.*)$", text.split("options:\n", 1)[1], re.M):
        name, takes_value, help_text = match.group(1), match.group(2) is not None, match.group(3).strip()
        default = re.search(r" \(default ([^()]*)\)$", help_text)
        if default:
            help_text = help_text[:default.start()]
        options.append(Option(name, takes_value, help_text, default.group(1) if default else None))
    if len(options) < 10:
        raise SystemExit(f"read only {len(options)} options from {synod} --help: has its format changed?")
    return [o for o in options if o.name not in NOT_IN_FILE]


def words(text):
    return " ".join(text.split())


def entry(line, switches):
    """The match of an entry line, or None. A comment of one word is prose
    (the end of a wrapped sentence) unless the word is a switch."""
    match = ENTRY.match(line)
    if match and match.group(1) is not None and match.group(3) is None and match.group(2) not in switches:
        return None
    return match


def entries(lines, switches):
    """[(line number, key, commented, has '=', value, the comment block above)]."""
    found = []
    for index, line in enumerate(lines):
        match = entry(line, switches)
        if not match:
            continue
        block = []
        above = index - 1
        while above >= 0 and lines[above].startswith("#") and not entry(lines[above], switches):
            block.insert(0, lines[above][1:])
            above -= 1
        found.append((index + 1, match.group(2), match.group(1) is not None, match.group(3) is not None,
                      match.group(4) or "", words(" ".join(block))))
    return found


def block_for(option):
    """What to paste for a missing option."""
    help_lines = textwrap.wrap(option.help, 78, initial_indent="# ", subsequent_indent="# ",
                               break_on_hyphens=False, break_long_words=False)
    if not option.takes_value:
        entry = f"# {option.key}"
    else:
        entry = f"# {option.key} = {option.default if option.default is not None else 'EXAMPLE'}"
    return "\n".join(help_lines + [entry])


def check(options, lines, path):
    """The problems, one sentence each."""
    problems = []
    by_key = {o.key: o for o in options}
    seen = {}
    switches = {o.key for o in options if not o.takes_value}
    for number, key, commented, has_value, value, block in entries(lines, switches):
        where = f"{path}:{number}"
        option = by_key.get(key)
        if option is None:
            problems.append(f"{where}: '{key}' is no option of synod --help"
                            + (" (--config names this file)" if key in NOT_IN_FILE else ""))
            continue
        seen.setdefault(key, []).append(number)
        if option.help and words(option.help) not in block:
            problems.append(f"{where}: the comment above {key} does not hold its --help text "
                            f"'{option.help}' (it reads '{block}')")
        if not option.takes_value and has_value:
            problems.append(f"{where}: {key} is a switch: write it alone on its line (comment it out for off)")
        if option.takes_value and not has_value:
            problems.append(f"{where}: {key} takes a value: `{key} = VALUE`")
        if commented and option.takes_value and option.default is not None and value != option.default:
            problems.append(f"{where}: {key} is commented out with '{value}', but its default "
                            f"(synod --help) is '{option.default}'")
    for option in options:
        if option.key not in seen:
            problems.append(f"{path}: no entry for --{option.name}; for example:\n"
                            + textwrap.indent(block_for(option), "    "))
        elif len(seen[option.key]) > 1:
            problems.append(f"{path}: {option.key} has {len(seen[option.key])} entries, on lines "
                            f"{', '.join(map(str, seen[option.key]))}")
    return problems


def self_test(options, lines):
    """Each planted error must be named; the file as it is must pass."""
    assert not check(options, lines, "conf"), "the file itself must pass before the self-test plants errors"
    valued = next(o for o in options if o.takes_value and o.default is not None)
    switch = next(o for o in options if not o.takes_value)
    switches = {o.key for o in options if not o.takes_value}
    entry_of = {key: number - 1 for number, key, *_ in entries(lines, switches)}

    def planted(what, edit, expected):
        copy = list(lines)
        edit(copy)
        problems = check(options, copy, "conf")
        named = [p for p in problems if re.search(expected, p)]
        if not named:
            raise SystemExit(f"self-test: {what}: the check did not name it (expected /{expected}/), "
                             f"it said {problems!r}")
        print(f"self-test: {what}: named: {named[0].splitlines()[0]}")

    def drop(copy):
        del copy[entry_of[valued.key]]
    planted(f"--{valued.name} left out", drop, rf"no entry for --{valued.name}")

    def twice(copy):
        copy.append(f"# {valued.help}")
        copy.append(f"{valued.key} = {valued.default}")
    planted(f"{valued.key} twice", twice, rf"{valued.key} has 2 entries")

    def wrong_default(copy):
        copy[entry_of[valued.key]] = f"# {valued.key} = 1{valued.default}"
    planted(f"a wrong default for {valued.key}", wrong_default, rf"its default .* is '{re.escape(valued.default)}'")

    def unknown(copy):
        copy.append("# a made-up option")
        copy.append("# no_such_option = 1")
    planted("an unknown option", unknown, r"'no_such_option' is no option")

    def switch_value(copy):
        copy[entry_of[switch.key]] = f"{switch.key} = false"
    planted(f"{switch.key} = false", switch_value, rf"{switch.key} is a switch")

    def other_help(copy):
        index = entry_of[valued.key] - 1
        copy[index] = "# some other words"
    planted(f"{valued.key} without its --help text", other_help, rf"does not hold its --help text")
    print("self-test: passed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synod", required=True, help="the synod binary whose --help is the reference")
    parser.add_argument("--conf", default=os.path.join(SOURCE, "deploy", "synod.conf"))
    parser.add_argument("--self-test", action="store_true", help="plant errors in a copy; each must be named")
    args = parser.parse_args()
    options = help_options(args.synod)
    with open(args.conf) as f:
        lines = f.read().splitlines()
    if args.self_test:
        self_test(options, lines)
        return 0
    problems = check(options, lines, os.path.relpath(args.conf))
    for problem in problems:
        print(problem)
    if problems:
        print(f"FAIL: {len(problems)} problem(s): {args.conf} must document every option of synod --help")
        return 1
    print(f"{args.conf}: all {len(options)} options of synod --help, each with its --help text "
          f"and, commented out, its default")
    return 0


if __name__ == "__main__":
    sys.exit(main())
