"""Runs one test of test/api/*.py by name, like test/cluster/run.py:

    python3 test/api/run.py --binary build/server/synod [--synodctl PATH] --module test_api NAME
"""
import argparse
import importlib
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "cluster"))  # harness.py


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--synodctl", default="")
    parser.add_argument("--module", default="test_api")
    parser.add_argument("test")
    args = parser.parse_args()
    if args.synodctl:
        os.environ["SYNODCTL"] = os.path.abspath(args.synodctl)
    module = importlib.import_module(args.module)
    test = getattr(module, args.test, None)
    if test is None:
        print(f"no test {args.test} in {args.module}", file=sys.stderr)
        return 2
    started = time.time()
    test(os.path.abspath(args.binary))
    print(f"{args.test}: passed in {time.time() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
