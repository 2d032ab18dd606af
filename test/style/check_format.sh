#!/usr/bin/env bash
# Fails when a C++ line that a change touched is not formatted as .clang-format
# says (clang-format-14). Only the changed lines are checked, so a change is
# never asked to reformat code it did not touch.
#
#   test/style/check_format.sh [BASE]
#
# The change is everything between BASE and the working tree (uncommitted
# edits included; new untracked files are checked whole). BASE is $1, else
# $SYNOD_FORMAT_BASE, else the merge base of HEAD with origin/main (or with a
# local main); when that is HEAD itself (a checkout of main), the last commit:
# HEAD~1. In a clone without history (depth 1) only uncommitted changes are
# left to check, and the script says so.
#
# Exit status: 0 every changed line is formatted, 1 some are not (the diff
# that fixes them is printed, with the command that applies it), 77 skipped:
# not a git checkout, so there is no change to look at (ctest reports a skip,
# never a pass). A missing clang-format-14 fails: nothing is skipped silently.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)

if ! command -v clang-format-14 >/dev/null 2>&1 || ! command -v clang-format-diff-14 >/dev/null 2>&1; then
  echo "check_format: clang-format-14 is not installed." >&2
  echo "  Install it with: deploy/install-deps.sh --test   (Debian package clang-format-14)" >&2
  exit 1
fi
if ! command -v git >/dev/null 2>&1 || ! git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "check_format: skipped: $repo is not a git checkout, so there are no changed lines to check."
  echo "  (Run it in a clone, or format a file by hand: clang-format-14 -i FILE.)"
  exit 77
fi
cd "$repo"

base=${1:-${SYNOD_FORMAT_BASE:-}}
if [[ -z "$base" ]]; then
  for ref in origin/main main; do
    if git rev-parse -q --verify "$ref^{commit}" >/dev/null; then
      base=$(git merge-base HEAD "$ref" 2>/dev/null || true)
      [[ -n "$base" ]] && break
    fi
  done
  if [[ -z "$base" || "$base" == "$(git rev-parse HEAD)" ]]; then
    if git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null; then
      base=HEAD~1
    else
      base=HEAD
      echo "check_format: HEAD has no parent here (a clone without history): only uncommitted changes are checked."
    fi
  fi
fi
if ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
  echo "check_format: the base '$base' is not a commit here" >&2
  exit 2
fi

changed=$(git diff --name-only --diff-filter=d "$base" -- '*.cpp' '*.h' | wc -l)
untracked=()
while IFS= read -r file; do untracked+=("$file"); done < <(git ls-files --others --exclude-standard -- '*.cpp' '*.h')
echo "check_format: C++ lines changed since $(git rev-parse --short "$base") ($base): $changed file(s), and ${#untracked[@]} new untracked file(s)"

problems=$(git diff -U0 --no-color --diff-filter=d "$base" -- '*.cpp' '*.h' |
  clang-format-diff-14 -p1 -binary clang-format-14 -style file)
for file in "${untracked[@]}"; do
  problems+=$(clang-format-14 -style=file "$file" | diff -u --label "a/$file" --label "b/$file" "$file" - || true)
done

if [[ -n "$problems" ]]; then
  printf '%s\n' "$problems"
  echo
  echo "check_format: the lines above are not formatted as .clang-format says. To format just the changed lines:"
  echo "  git diff -U0 $base -- '*.cpp' '*.h' | clang-format-diff-14 -p1 -i -binary clang-format-14 -style file"
  exit 1
fi
echo "check_format: every changed line is formatted"
