#!/usr/bin/env bash
# Sets up the plugin and runs a short session against it, the way the Workflow Compute host
# does: initialize, the adapter catalog, an invocation for a command workload, the hardened
# argv a run would execute, and a runtime probe of this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
ws=$(mktemp -d)
trap 'rm -rf "$ws"' EXIT
printf 'artifact' >"$ws/out.txt"
.venv/bin/workflow-plugin-compute-container probe-image build --tool podman >&2 || true
{
  printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocol_version":"compute.v1alpha1","host":{"name":"demo","version":"1"}}}'
  printf '%s\n' '{"jsonrpc":"2.0","id":2,"method":"adapters.catalog"}'
  printf '%s\n' '{"jsonrpc":"2.0","id":3,"method":"invocation.command","params":{"task_id":"task-1","lease_id":"lease-1","image":"localhost/wfcompute-sandbox-probe:v1","workspace":"'"$ws"'","workload":{"args":["sh","-c","echo hello"],"artifact_allowlist":["out.txt"],"env":[{"name":"TOKEN","secret_ref":"secret://demo/token"}]},"resolved_env":{"secret://demo/token":"s3cr3t"}}}'
  printf '%s\n' '{"jsonrpc":"2.0","id":4,"method":"sandbox.plan","params":{"runtime":{"tool":"podman"},"request":{"image":"localhost/wfcompute-sandbox-probe:v1","command":["sh","-c","echo hello"],"workspace":"'"$ws"'","env":{"TOKEN":"s3cr3t"}}}}'
  printf '%s\n' '{"jsonrpc":"2.0","id":5,"method":"artifacts.hash","params":{"workspace":"'"$ws"'","allowlist":["out.txt"]}}'
  printf '%s\n' '{"jsonrpc":"2.0","id":6,"method":"runtime.probe","params":{"backends":["podman-rootless","docker-desktop","nerdctl-containerd"],"conformance_image":"localhost/wfcompute-sandbox-probe:v1","timeout_ms":60000}}'
} | .venv/bin/workflow-plugin-compute-container
