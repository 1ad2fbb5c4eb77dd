#!/usr/bin/env bash
# Sets up everything the plugin and its tests need on a fresh Debian machine, idempotently:
# container runtimes (podman, Docker) and GnuPG from Debian's packages, and a virtualenv in
# .venv with the plugin installed (editable) and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

bash .ci/setup-runtimes.sh

if ! command -v gpgv >/dev/null || ! command -v gpg >/dev/null; then
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnupg gpgv >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
echo "setup: ok ($(.venv/bin/python --version), $(podman --version 2>/dev/null || echo 'no podman'), $(docker version --format 'docker server {{.Server.Version}}' 2>/dev/null || echo 'no docker daemon'))"
