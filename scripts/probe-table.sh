#!/usr/bin/env bash
# Probe this machine as root and as the rootless test user, and print the README's table of
# what each backend claims, what held and what did not (scripts/probe_table.py renders it).
#
# Run as root after scripts/setup.sh and scripts/test-rootless.sh (that one gives the user
# `wfcompute-ci` its copy of the plugin in ~/venv). Builds the offline probe image for each
# runtime and user, then runs `probe --json` with it.
set -euo pipefail
cd "$(dirname "$0")/.."

USER_NAME="${WFCOMPUTE_ROOTLESS_USER:-wfcompute-ci}"
IMAGE=localhost/wfcompute-sandbox-probe:v1
PLUGIN=.venv/bin/workflow-plugin-compute-container
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

"$PLUGIN" probe-image build --tool podman --tag "$IMAGE" >&2
"$PLUGIN" probe-image build --tool docker --tag "$IMAGE" >&2
"$PLUGIN" probe --json --conformance-image "$IMAGE" >"$OUT/root.json"

HOME_DIR="$(getent passwd "$USER_NAME" | cut -d: -f6)"
USER_PLUGIN="$HOME_DIR/venv/bin/workflow-plugin-compute-container"
if [ ! -x "$USER_PLUGIN" ]; then
  echo "probe-table: $USER_PLUGIN is missing: run scripts/test-rootless.sh first" >&2
  exit 1
fi
as_user() {
  runuser -u "$USER_NAME" -- env -i HOME="$HOME_DIR" PATH=/usr/local/bin:/usr/bin:/bin \
    LANG=C.UTF-8 XDG_RUNTIME_DIR="/run/user/$(id -u "$USER_NAME")" bash -c "cd && $1"
}
as_user "'$USER_PLUGIN' probe-image build --tool podman --tag '$IMAGE' >&2"
as_user "'$USER_PLUGIN' probe --json --backend podman-rootless --backend podman-rootful --backend podman-gvisor \
  --conformance-image '$IMAGE'" >"$OUT/user.json"

python3 scripts/probe_table.py "root=$OUT/root.json" "$USER_NAME=$OUT/user.json"
