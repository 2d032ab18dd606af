"""The checker on 100,000-operation fault-heavy histories with planted violations (issue 16; the
`long` tier): every base history must be linearizable, every planted twin not-linearizable, and
no verdict unknown.

  planted_long.py --lincheck PATH [--binary SYNOD] [--history FILE] --work DIR

Register bases: a synthetic one (plant.py synth-register), and, with --binary, one recorded
against real synod processes by record_register.py (180 s, cut to its first 100,000 operations),
or the recorded --history FILE. Lock base: plant.py synth-lock. Each register base gets a stale
read, a lost acknowledged write, a read of a value never written and a read before its write;
the lock base gets two grants at once. Prints one line per check, then a JSON summary with the
time to each verdict; exits 0 only when every verdict is the expected one.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REGISTER_KINDS = ["stale-read", "lost-write", "never-written", "read-before-write"]
OPERATIONS = 100_000
INDETERMINATE_WRITES_MIN = 1_000


def run(argv):
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode not in (0, 1):
        sys.stderr.write(result.stderr)
    return result


def plant(*args):
    result = run([sys.executable, os.path.join(HERE, "plant.py"), *args])
    if result.returncode != 0:
        raise SystemExit(f"plant.py {' '.join(args)} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def first_operations(source, target, count):
    """The history up to the invocation of its count+1-th operation: a prefix of a real history is a
    real history (operations open at the cut are of unknown outcome)."""
    invoked = 0
    with open(source) as f, open(target, "w") as out:
        for line in f:
            event = json.loads(line)
            if event["type"] == "invoke":
                invoked += 1
                if invoked > count:
                    break
            out.write(line)


def operation_count(path):
    with open(path) as f:
        return sum(1 for line in f if json.loads(line)["type"] == "invoke")


def indeterminate_writes(path):
    opened, count = {}, 0
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            if e["type"] == "invoke":
                opened[e["process"]] = e["f"]
            else:
                f_name = opened.pop(e["process"], None)
                count += f_name == "write" and e["type"] == "info"
    return count + sum(1 for f_name in opened.values() if f_name == "write")


def check(lincheck, path, expected, rows, name):
    result = run([lincheck, path])
    verdict = json.loads(result.stdout.strip().splitlines()[-1])
    row = {"history": name, "expected": expected} | verdict
    rows.append(row)
    print(json.dumps(row), flush=True)
    return verdict["verdict"] == expected


def register_bases(args):
    bases = []
    synthetic = os.path.join(args.work, "synthetic-register.jsonl")
    plant("synth-register", synthetic, "--operations", str(OPERATIONS), "--seed", "16")
    bases.append(("synthetic-register", synthetic))
    recorded = args.history
    if recorded is None and args.binary:
        recorded = os.path.join(args.work, "recorded-full.jsonl")
        subprocess.run([sys.executable, os.path.join(HERE, "record_register.py"), "--binary", args.binary,
                        "--seconds", "180", "--clients", "16", "--seed", "41", "--out", recorded], check=True)
    if recorded is not None:
        cut = os.path.join(args.work, "recorded-register.jsonl")
        first_operations(recorded, cut, OPERATIONS)
        bases.append(("recorded-register", cut))
    return bases


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lincheck", required=True)
    p.add_argument("--binary", default=None)
    p.add_argument("--history", default=None, help="a recorded register history to use instead of recording")
    p.add_argument("--work", required=True)
    args = p.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    rows, agree, notes = [], True, []
    for name, base in register_bases(args):
        writes = indeterminate_writes(base)
        notes.append({"history": name, "operations": operation_count(base), "indeterminate_writes": writes})
        if operation_count(base) < OPERATIONS:
            print(f"{name}: only {operation_count(base)} operations (want {OPERATIONS})", flush=True)
            agree = False
        if writes < INDETERMINATE_WRITES_MIN:
            print(f"{name}: only {writes} indeterminate writes (want {INDETERMINATE_WRITES_MIN})", flush=True)
            agree = False
        agree &= check(args.lincheck, base, "linearizable", rows, name)
        for kind in REGISTER_KINDS:
            twin = os.path.join(args.work, f"{name}-{kind}.jsonl")
            plant(kind, base, twin, "--seed", "7")
            agree &= check(args.lincheck, twin, "not-linearizable", rows, f"{name}-{kind}")
    lock = os.path.join(args.work, "synthetic-lock.jsonl")
    plant("synth-lock", lock, "--operations", str(OPERATIONS), "--seed", "16")
    agree &= check(args.lincheck, lock, "linearizable", rows, "synthetic-lock")
    twin = os.path.join(args.work, "synthetic-lock-double-grant.jsonl")
    plant("double-grant", lock, twin, "--seed", "7")
    agree &= check(args.lincheck, twin, "not-linearizable", rows, "synthetic-lock-double-grant")
    print(json.dumps({"agree": agree, "bases": notes,
                      "seconds": {r["history"]: r["seconds"] for r in rows},
                      "unknown": sum(1 for r in rows if r["verdict"] == "unknown")}), flush=True)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
