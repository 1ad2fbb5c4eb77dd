#!/usr/bin/env bash
# The runtime-free tests again on every other supported Python found here (3.12, 3.13):
# each gets its own virtualenv (.venv-3.X) with the plugin and its test tools. The main
# suite, on the setup's Python, covers the real runtimes; this pass shows that the code
# (and its pinned dependencies) hold on the newer interpreters too. A Python that is not
# installed is reported and skipped: it is not part of this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

tested=0
for version in 3.12 3.13; do
  # On PATH, else an interpreter pyenv installed (its shims refuse versions not selected).
  python=""
  for candidate in "$(command -v "python$version" || true)" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c 'import sys' 2>/dev/null; then
      python="$candidate"
      break
    fi
  done
  if [ -z "$python" ]; then
    echo "other pythons: python$version is not installed here; not tested"
    continue
  fi
  venv=".venv-$version"
  if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$venv/bin/python" -m pip install -q -e '.[test]'
  echo "== tests on $("$venv/bin/python" --version)"
  "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/core tests/goparity tests/rpc \
    tests/server tests/workspace tests/cli tests/test_redaction.py tests/scripts
  tested=$((tested + 1))
done
echo "other pythons: $tested tested"
