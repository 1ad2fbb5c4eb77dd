#!/usr/bin/env bash
# The real-runtime tests a second time, as an unprivileged user with rootless podman.
#
# Run as root (or with sudo) after scripts/setup.sh, which creates the user `wfcompute-ci`
# with subordinate uid/gid ranges (rootless podman maps container users into them). Copies
# this checkout to its home (root's tree need not be readable by it), gives it a virtualenv made
# with the system Python, and runs the runs, builds, probes and hardening tests there with
# WFCOMPUTE_TEST_TOOLS=podman: Docker is root's daemon, so its tests skip in this pass, with
# that reason. Everything else that needs podman must pass, rootless: `--userns keep-id`,
# workspace ownership, the rootless probe report.
set -euo pipefail
cd "$(dirname "$0")/.."

USER_NAME="${WFCOMPUTE_ROOTLESS_USER:-wfcompute-ci}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

if ! id "$USER_NAME" >/dev/null 2>&1 || ! grep -q "^$USER_NAME:" /etc/subuid; then
  echo "test-rootless: user $USER_NAME with a subuid range is missing: run scripts/setup.sh" >&2
  exit 1
fi
HOME_DIR="$(getent passwd "$USER_NAME" | cut -d: -f6)"
USER_ID="$(id -u "$USER_NAME")"
# What a login session would provide: podman keeps its rootless runtime state there
# (without it, it falls back to $TMPDIR, which the tests replace per test).
RUNTIME_DIR="/run/user/$USER_ID"
$SUDO install -d -m 0700 -o "$USER_NAME" -g "$(id -g "$USER_NAME")" "$RUNTIME_DIR"
SRC="$HOME_DIR/src"

# A fresh copy of the checkout (tracked and untracked files, not .venv or caches).
$SUDO rm -rf "$SRC"
$SUDO mkdir -p "$SRC"
tar --exclude=./.venv --exclude='./.venv-*' --exclude=./.git --exclude='*/__pycache__' --exclude=./.mypy_cache \
  --exclude=./.ruff_cache --exclude=./.pytest_cache -cf - . | $SUDO tar -xf - -C "$SRC"
$SUDO chown -R "$USER_NAME:" "$SRC"

as_user() {
  $SUDO runuser -u "$USER_NAME" -- env -i HOME="$HOME_DIR" PATH=/usr/local/bin:/usr/bin:/bin \
    LANG=C.UTF-8 CI="${CI:-}" XDG_RUNTIME_DIR="$RUNTIME_DIR" WFCOMPUTE_TEST_TOOLS=podman bash -c "cd '$SRC' && $1"
}

if [ ! -x "$HOME_DIR/venv/bin/python" ]; then
  as_user "/usr/bin/python3 -m venv '$HOME_DIR/venv'"
fi
as_user "'$HOME_DIR/venv/bin/python' -m pip install -q --upgrade pip >/dev/null"
as_user "'$HOME_DIR/venv/bin/python' -m pip install -q -e '.[test]'"
as_user "podman info --format 'rootless podman: {{.Host.Security.Rootless}}'"

# A base temp of our own, emptied by rm (which walks trees of any depth) before each pass.
# Outside the home directory: the plugin redacts home paths from what it reports, and the
# workspace-error tests compare the path they made with the path in the report.
BASE_TEMP="/tmp/$USER_NAME-pytest"
as_user "rm -rf '$BASE_TEMP'"
as_user "'$HOME_DIR/venv/bin/python' -m pytest -q -p no:cacheprovider \
  --basetemp '$BASE_TEMP' tests/operations tests/hardening tests/runtime_io tests/golden"
