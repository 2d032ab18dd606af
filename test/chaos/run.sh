#!/bin/sh
# The chaos suite on real synod processes (issue 9, DESIGN section 7):
#   test/chaos/run.sh --runs N --seconds S --seed X [--nodes 3|5|3,5] [--mix NAME|A,B|all]
#                     [--binary PATH] [--lincheck PATH] [--out DIR]
# The last line printed is one JSON object summing up all runs; the exit code
# is 0 iff every violation count is 0. See docs/chaos.md and chaos.py --help.
# Python 3 standard library only; every process on 127.0.0.1.
exec python3 "$(dirname "$0")/chaos.py" "$@"
