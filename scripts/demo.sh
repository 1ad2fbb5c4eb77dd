#!/usr/bin/env bash
# Sets up the plugin and runs a short session against it, the way the Workflow Compute host
# does: initialize, the adapter catalog, an invocation for a command workload, the hardened
# argv a run would execute, a real sandboxed run of that invocation (podman), artifact
# hashing, and a runtime probe of this machine with the conformance image built offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
plugin=.venv/bin/workflow-plugin-compute-container
image=localhost/wfcompute-sandbox-probe:v1
ws=$(mktemp -d)
trap 'rm -rf "$ws"' EXIT
chmod 0755 "$ws"
printf 'artifact' >"$ws/out.txt"
"$plugin" probe-image build --tool podman --tag "$image" >&2
if docker info >/dev/null 2>&1; then "$plugin" probe-image build --tool docker --tag "$image" >&2; fi

args='["sh","-c","echo hello from the sandbox; test -n \"$TOKEN\" && echo token received; cat /workspace/out.txt"]'
workload='{"args":'"$args"',"artifact_allowlist":["out.txt"],"env":[{"name":"TOKEN","secret_ref":"secret://demo/token"}]}'
# The invocation that invocation.command (id 3) returns; the host hands it to command.run.
invocation='{"request":{"protocol_version":"compute.v1alpha1","task_id":"task-1","lease_id":"lease-1","workload_kind":"command","operation":"run-sandboxed-command","input":{"args":'"$args"',"artifact_allowlist":["out.txt"]},"env":{"TOKEN":"s3cr3t"}},"image":"'"$image"'","workspace":"'"$ws"'","network":"none","timeout_ms":60000,"timeout_limit_hit":"timeout"}'
{
  printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocol_version":"compute.v1alpha1","host":{"name":"demo","version":"1"}}}'
  printf '%s\n' '{"jsonrpc":"2.0","id":2,"method":"adapters.catalog"}'
  printf '%s\n' '{"jsonrpc":"2.0","id":3,"method":"invocation.command","params":{"task_id":"task-1","lease_id":"lease-1","image":"'"$image"'","workspace":"'"$ws"'","workload":'"$workload"',"resolved_env":{"secret://demo/token":"s3cr3t"}}}'
  printf '%s\n' '{"jsonrpc":"2.0","id":4,"method":"sandbox.plan","params":{"runtime":{"tool":"podman"},"request":{"image":"'"$image"'","command":["sh","-c","echo hello"],"workspace":"'"$ws"'","env":{"TOKEN":"s3cr3t"}}}}'
  printf '%s\n' '{"jsonrpc":"2.0","id":5,"method":"command.run","params":{"invocation":'"$invocation"',"runtime":{"tool":"podman"}}}'
  printf '%s\n' '{"jsonrpc":"2.0","id":6,"method":"artifacts.hash","params":{"workspace":"'"$ws"'","allowlist":["out.txt"]}}'
  printf '%s\n' '{"jsonrpc":"2.0","id":7,"method":"runtime.probe","params":{"conformance_image":"'"$image"'","timeout_ms":60000}}'
} | "$plugin" | .venv/bin/python -c '
import base64, json, sys
for line in sys.stdin:
    print(line.rstrip()[:600] + (" ..." if len(line) > 600 else ""))
    message = json.loads(line)
    result = message.get("result")
    if isinstance(result, dict) and "stdout" in result:
        print("   stdout of the sandboxed run:", base64.b64decode(result["stdout"]).decode().strip().replace("\n", " | "))
    if isinstance(result, dict) and "reports" in result:
        for report in result["reports"]:
            print("   probe %-20s %-12s %s" % (report["backend_id"], report["status"], report.get("reason", "")))
'
