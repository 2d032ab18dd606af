"""Runs one test of test_*.py by name: python3 run.py --binary PATH NAME."""
import argparse
import importlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--module", default="test_server")
    parser.add_argument("test")
    args = parser.parse_args()
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
