#!/usr/bin/env bash
# Sets up everything the plugin and its tests need on a fresh Debian machine, idempotently:
# container runtimes (podman, Docker) and GnuPG from Debian's packages, an unprivileged user
# for the rootless podman tests, and a virtualenv in .venv with the plugin installed
# (editable) and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

bash .ci/setup-runtimes.sh

if ! command -v gpgv >/dev/null || ! command -v gpg >/dev/null; then
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnupg gpgv >/dev/null
fi

# The unprivileged user the rootless test pass runs as (scripts/test-rootless.sh), with
# subordinate uid/gid ranges for rootless podman's user namespace.
ROOTLESS_USER="${WFCOMPUTE_ROOTLESS_USER:-wfcompute-ci}"
if ! id "$ROOTLESS_USER" >/dev/null 2>&1; then
  $SUDO useradd --create-home --shell /bin/bash "$ROOTLESS_USER"
fi
for map in /etc/subuid /etc/subgid; do
  if ! grep -q "^$ROOTLESS_USER:" "$map" 2>/dev/null; then
    echo "$ROOTLESS_USER:200000:65536" | $SUDO tee -a "$map" >/dev/null
  fi
done

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
echo "setup: ok ($(.venv/bin/python --version), $(podman --version 2>/dev/null || echo 'no podman'), $(docker version --format 'docker server {{.Server.Version}}' 2>/dev/null || echo 'no docker daemon'))"
