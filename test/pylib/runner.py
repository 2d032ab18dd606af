"""Runs one test function of a test module by name: the entry point of every
test/cluster and test/api module, so each is its own script:

    python3 test/cluster/test_server.py --binary build/server/synod test_three_nodes_commit
    python3 test/api/test_api.py --binary build/server/synod --synodctl build/cli/synodctl NAME
    python3 test/cluster/test_memory.py --list

A test is a function test_*(binary) that raises (an assert) to fail.
"""
import argparse
import os
import sys
import time

from pylib import openapi


def main(namespace):
    """`namespace` is the module's globals(); returns the exit code."""
    tests = sorted(name for name, value in namespace.items() if name.startswith("test_") and callable(value))
    parser = argparse.ArgumentParser(description=namespace.get("__doc__"),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", help="the synod server")
    parser.add_argument("--synodctl", default="", help="synodctl (sets $SYNODCTL for the test)")
    parser.add_argument("--list", action="store_true", help="print the module's tests and exit")
    parser.add_argument("test", nargs="?", choices=tests, metavar="TEST", help=f"one of: {', '.join(tests)}")
    args = parser.parse_args()
    if args.list:
        print("\n".join(tests))
        return 0
    if not args.binary or not args.test:
        parser.error("--binary and a TEST are required")
    if args.synodctl:
        os.environ["SYNODCTL"] = os.path.abspath(args.synodctl)
    started = time.time()
    try:
        namespace[args.test](os.path.abspath(args.binary))
    finally:
        openapi.report(args.test)  # with SYNOD_OPENAPI_CHECK: how many answers docs/openapi.yaml checked
    openapi.raise_if_failed()  # a mismatch a background thread met
    print(f"{args.test}: passed in {time.time() - started:.1f}s")
    return 0


def run(namespace):
    sys.exit(main(namespace))
