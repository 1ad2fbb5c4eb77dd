#!/usr/bin/env bash
# Prepare real podman, Docker and gVisor's runsc for the runtime tests (docs/SECURITY.md,
# "What each runtime gives, measured here").
# Idempotent: installs only what is missing, rewrites containers.conf only when it lacks our
# settings, starts dockerd only when no daemon answers.
set -euo pipefail

packages=(podman runc runsc fuse-overlayfs slirp4netns uidmap busybox-static docker.io)
log_dir=${WFCOMPUTE_RUNTIME_LOG_DIR:-/var/log}
dockerd_wait_seconds=${WFCOMPUTE_DOCKERD_WAIT_SECONDS:-60}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-runtimes: installing ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

# This machine's hard nofile limit is 20000 and cgroups are hybrid (crun refuses them):
# podman needs both settings or every run fails.
conf=/etc/containers/containers.conf
if ! { [ -f "$conf" ] && grep -q 'nofile=20000:20000' "$conf" && grep -q 'runtime = "runc"' "$conf"; }; then
  echo "setup-runtimes: writing $conf" >&2
  as_root mkdir -p /etc/containers
  if [ -f "$conf" ]; then as_root cp "$conf" "$conf.before-wfcompute"; fi
  as_root tee "$conf" >/dev/null <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF
fi

# gVisor under Docker: Docker has no per-run runtime flag, so runsc is registered with the
# daemon with its own network off (without it runsc refuses `--network none`). A running
# daemon reloads its runtimes on SIGHUP.
daemon_conf=/etc/docker/daemon.json
if ! { [ -f "$daemon_conf" ] && grep -q '"--network=none"' "$daemon_conf"; }; then
  echo "setup-runtimes: registering runsc in $daemon_conf" >&2
  as_root mkdir -p /etc/docker
  as_root python3 - "$daemon_conf" <<'PY'
import json, os, sys
path = sys.argv[1]
conf = {}
if os.path.exists(path):
    os.replace(path, path + ".before-wfcompute")
    with open(path + ".before-wfcompute") as f:
        conf = json.load(f)
conf.setdefault("runtimes", {})["runsc"] = {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}
with open(path, "w") as f:
    json.dump(conf, f, indent=2)
    f.write("\n")
PY
  if docker info >/dev/null 2>&1; then
    as_root pkill -HUP -x dockerd || true
    for _ in $(seq 20); do
      docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q runsc && break
      sleep 0.5
    done
  fi
fi

if ! docker info >/dev/null 2>&1; then
  echo "setup-runtimes: starting dockerd (log: $log_dir/dockerd.log)" >&2
  as_root mkdir -p "$log_dir"
  as_root sh -c "nohup dockerd >'$log_dir/dockerd.log' 2>&1 </dev/null & echo \$! >'$log_dir/dockerd.launch.pid'"
  deadline=$((SECONDS + dockerd_wait_seconds))
  until docker info >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "setup-runtimes: dockerd did not answer within ${dockerd_wait_seconds}s; last log lines:" >&2
      tail -n 20 "$log_dir/dockerd.log" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
fi

podman version --format '{{.Client.Version}}' >/dev/null
docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' \
  || { echo "setup-runtimes: the Docker daemon has no runsc runtime (see $daemon_conf)" >&2; exit 1; }
echo "setup-runtimes: podman $(podman version --format '{{.Client.Version}}'), docker daemon $(docker version --format '{{.Server.Version}}')" >&2
