#!/usr/bin/env bash
# Print the oldest and the newest Python on this machine that conversa supports
# (requires-python >= 3.10) and that can make a virtualenv, as two lines:
#
#   oldest=/root/.pyenv/versions/3.10.13/bin/python3.10
#   newest=/root/.pyenv/versions/3.13.0/bin/python3.13
#
# Looks in pyenv's versions (`pyenv root`, else $PYENV_ROOT or ~/.pyenv) and on
# PATH (python3, python3.N); a pyenv shim counts as the interpreter it runs. With
# one usable Python, both lines name it (and a note on stderr says so); with none,
# it fails. Used by .ci/run.
set -euo pipefail

MIN_MINOR=10

root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
candidates=()
for p in "$root"/versions/3.*/bin/python3; do
  [ -x "$p" ] && candidates+=("$p")
done
for name in python3 $(seq -f 'python3.%g' "$MIN_MINOR" 20); do
  p="$(command -v "$name" 2>/dev/null || true)"
  [ -n "$p" ] && candidates+=("$p")
done

# "VERSION EXECUTABLE" for each interpreter that is new enough and has venv and
# ensurepip (Debian's python3 without python3-venv cannot make a virtualenv).
probe='import os, sys, venv, ensurepip
if sys.version_info >= (3, %d):
    print("%%d.%%d.%%d" %% sys.version_info[:3], os.path.realpath(sys.executable))'
found="$(
  for p in "${candidates[@]}"; do
    # shellcheck disable=SC2059 - the probe is the format
    "$p" -c "$(printf "$probe" "$MIN_MINOR")" 2>/dev/null || true
  done | sort -u -k2,2 | sort -V -k1,1
)"
if [ -z "$found" ]; then
  echo "pythons.sh: no Python >= 3.$MIN_MINOR with venv found (pyenv root: $root)" >&2
  exit 1
fi
oldest="$(echo "$found" | head -n1)"
newest="$(echo "$found" | tail -n1)"
if [ "${oldest%% *}" = "${newest%% *}" ]; then
  echo "pythons.sh: only Python ${oldest%% *} found; the oldest and the newest are the same" >&2
fi
echo "oldest=${oldest#* }"
echo "newest=${newest#* }"
