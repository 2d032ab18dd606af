"""The README's curl examples run against a real 3-node cluster, so the front
page cannot lie (issue #6).

It takes the section "## A fenced lock in one curl command" of README.md, runs
its ```sh blocks in order in one bash (so variables carry over), with the
cluster's real ports in place of 127.0.0.1:7001-7003, and checks that each
block succeeds and that its output looks like the ```json or ```text block
shown after it: the same fields with the same types, and the same values
except ids, tokens and indexes, which are revisions and differ from run to run.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner, sse  # noqa: E402
from pylib.cluster import running_cluster  # noqa: E402
from pylib.auth import as_root, give_root_token  # noqa: E402
from pylib.tls import TlsCluster  # noqa: E402

SECTION = "## A fenced lock in one curl command"
TLS_SECTION = "## The same lock over TLS, with a token"
ROOT_TOKEN = "synod_readme_root_token_0123456789"
HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(HERE, "..", "..", "README.md")


def blocks(section_title=SECTION):
    """[(command, expected language, expected text)] of the section."""
    with open(README) as f:
        text = f.read()
    start = text.index(section_title)
    end = text.find("\n## ", start + len(section_title))
    section = text[start:end if end >= 0 else len(text)]
    fences = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    pairs = []
    for i, (language, body) in enumerate(fences):
        if language != "sh":
            continue
        expected = fences[i + 1] if i + 1 < len(fences) and fences[i + 1][0] != "sh" else (None, None)
        pairs.append((body, expected[0], expected[1]))
    return pairs


def same_shape(shown, actual, where):
    """Fields, types and stable values of `shown` are those of `actual`."""
    assert set(shown) == set(actual), f"{where}: fields {sorted(actual)} differ from the README's {sorted(shown)}"
    for key, value in shown.items():
        got = actual[key]
        assert type(got) is type(value), f"{where}: {key} is {got!r}, the README shows {value!r}"
        is_revision = isinstance(value, int) or (isinstance(value, str) and value.isdigit())
        if key.endswith("_ms") or is_revision:
            continue  # durations and revisions differ from run to run
        assert got == value, f"{where}: {key} is {got!r}, the README shows {value!r}"


def check_output(language, shown, actual, where):
    if language == "json":
        same_shape(json.loads(shown), json.loads(actual), where)
        return
    # Server-sent events: every event the README shows comes, with data of the same shape.
    wanted = [(e["event"], e["data"]) for e in sse.parse_text(shown) if "event" in e]
    got = dict((e["event"], e["data"]) for e in sse.parse_text(actual) if "event" in e)
    assert wanted, f"{where}: the README shows no event"
    for event, data in wanted:
        assert event in got, f"{where}: no {event} event in {actual!r}"
        same_shape(json.loads(data), json.loads(got[event]), f"{where} ({event})")


def run_blocks(cluster, examples, scratch, replacements=()):
    """Runs the blocks in one bash against `cluster`, checking each output."""
    script = ["set -o pipefail"]
    for index, (command, _, _) in enumerate(examples):
        for node in cluster.ids():
            command = command.replace(f"127.0.0.1:700{node}", f"127.0.0.1:{cluster.port(node)}")
        command = command.replace("/tmp/lock.json", os.path.join(scratch, "lock.json"))
        for old, new in replacements:
            command = command.replace(old, new)
        # A streaming example ends by its --max-time (curl exit 28): that is its success.
        allowed = "0|28" if "--max-time" in command else "0"
        script.append(command.rstrip("\n"))
        script.append(f'rc=$?; case $rc in {allowed}) ;; *) echo "@@FAIL {index} $rc"; exit 1 ;; esac')
        script.append(f'echo; echo "@@END {index}"')
    run = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True, text=True, timeout=120, cwd=scratch)
    assert run.returncode == 0, f"a README block failed:\n{run.stdout}\n{run.stderr}"
    outputs = re.split(r"@@END \d+\n", run.stdout)
    for index, (command, language, shown) in enumerate(examples):
        where = f"README block {index + 1} ({command.strip().splitlines()[-1][:60]})"
        if language is None:
            continue
        actual = outputs[index].strip()
        assert actual, f"{where}: printed nothing"
        check_output(language, shown, actual, where)
    print(f"{len(examples)} README blocks ran and matched")


def test_readme_tls_example(binary):
    """The TLS section, on a cluster set up as deploy/quickstart.sh --tls sets one up."""
    examples = blocks(TLS_SECTION)
    assert examples, "the README has no TLS block"
    with TlsCluster(3, binary) as cluster, tempfile.TemporaryDirectory() as scratch:
        give_root_token(cluster, ROOT_TOKEN)
        cluster.start_all()
        cluster.leader(timeout=20)
        app = as_root(cluster, ROOT_TOKEN, "POST", "/v1/auth/tokens", {"principal": "app"}).json["token"]
        for space in ("locks", "keys", "elections", "sessions"):
            rule = {"subject": "user:app", "space": space, "prefix": "", "permission": "write"}
            assert as_root(cluster, ROOT_TOKEN, "POST", "/v1/auth/rules", rule).status == 200
        assert as_root(cluster, ROOT_TOKEN, "POST", "/v1/auth/enable").status == 200
        with open(os.path.join(scratch, "app-token"), "w") as f:
            f.write(app + "\n")
        run_blocks(cluster, examples, scratch, [(".synod-quickstart/certs/ca.pem", cluster.ca_file),
                                                (".synod-quickstart/app-token", os.path.join(scratch, "app-token"))])


def test_readme_curl_examples(binary):
    examples = blocks()
    assert len(examples) >= 6, f"the README section has {len(examples)} sh blocks"
    with running_cluster(binary) as cluster, tempfile.TemporaryDirectory() as scratch:
        run_blocks(cluster, examples, scratch)


if __name__ == "__main__":
    runner.run(globals())
