#!/usr/bin/env bash
# Release hook: fetch the pinned upstream checksum list, its signature and the signing key
# for the managed containerd bundle, check each against the digest pinned here (the same pins
# as managed-runtime-bundles.json; tests/packaging checks they agree), check that the checksum
# list pins the artifact, and write the bundle's source record next to a copy of the catalog.
#
#   bash scripts/package-managed-runtime-bundle.sh
#
# Output: .release/managed-runtime-bundles/ (override with WFCOMPUTE_BUNDLE_OUT_DIR). The
# download locations can be pointed at a mirror with WFCOMPUTE_BUNDLE_SOURCE_BASE_URL and
# WFCOMPUTE_BUNDLE_TRUST_ROOT_URL; the pinned digests cannot be changed from outside.
set -euo pipefail

cd "$(dirname "$0")/.."

release_tag="v2.3.1"
bundle_id="managed-containerd-linux-amd64"
artifact_name="nerdctl-full-2.3.1-linux-amd64.tar.gz"
artifact_digest="7a0d8efcf55b10b57d831541266adb9c6ec3d55b44ec041c95f6eb994d1faab9"
checksum_name="SHA256SUMS"
checksum_digest="8a0586ff11d4d5a5d19d59494a10af8c6d41dd95ca72ff347f62d5288bc5131a"
signature_name="SHA256SUMS.asc"
signature_digest="f87400e0923e22eab251328bd210bb9e8d3bba2b58dbbb84699622474344d68c"
trust_root_name="ChengyuZhu6.gpg"
trust_root_url="https://github.com/ChengyuZhu6.gpg"
trust_root_digest="812ecad48a498fe3fbda46805da3fb2e98328531e3aac3e171a63c9daa1d9206"

source_base_url="${WFCOMPUTE_BUNDLE_SOURCE_BASE_URL:-https://github.com/containerd/nerdctl/releases/download/${release_tag}}"
source_base_url="${source_base_url%/}"
trust_root_fetch_url="${WFCOMPUTE_BUNDLE_TRUST_ROOT_URL:-$trust_root_url}"
out_dir="${WFCOMPUTE_BUNDLE_OUT_DIR:-.release/managed-runtime-bundles}"

mkdir -p "$out_dir"

fetch() { # url destination
    # python3 rather than curl: always present where the plugin is built, and it also
    # reads file:// mirrors.
    python3 - "$1" "$2" <<'PY'
import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=60) as answer, open(sys.argv[2], "wb") as out:
    shutil.copyfileobj(answer, out)
PY
}

check_digest() { # file expected-hex
    local got
    got="$(sha256sum "$1" | cut -d' ' -f1)"
    if [ "$got" != "$2" ]; then
        echo "managed runtime bundle digest mismatch for $1: got $got want $2" >&2
        exit 1
    fi
}

fetch "$source_base_url/$checksum_name" "$out_dir/$checksum_name"
check_digest "$out_dir/$checksum_name" "$checksum_digest"
fetch "$source_base_url/$signature_name" "$out_dir/$signature_name"
check_digest "$out_dir/$signature_name" "$signature_digest"
fetch "$trust_root_fetch_url" "$out_dir/$trust_root_name"
check_digest "$out_dir/$trust_root_name" "$trust_root_digest"

if ! grep -F -x -q "$artifact_digest  $artifact_name" "$out_dir/$checksum_name"; then
    echo "$checksum_name does not pin $artifact_name to sha256:$artifact_digest" >&2
    exit 1
fi

source_json="$out_dir/$bundle_id.source.json"
cat >"$source_json" <<JSON
{
  "bundle_id": "$bundle_id",
  "source_url": "$source_base_url/$artifact_name",
  "artifact_name": "$artifact_name",
  "artifact_digest": "sha256:$artifact_digest",
  "checksum_url": "$source_base_url/$checksum_name",
  "checksum_digest": "sha256:$checksum_digest",
  "signature_url": "$source_base_url/$signature_name",
  "signature_digest": "sha256:$signature_digest",
  "trust_root_url": "$trust_root_url",
  "trust_root_name": "$trust_root_name",
  "trust_root_digest": "sha256:$trust_root_digest"
}
JSON
(cd "$out_dir" && sha256sum "$bundle_id.source.json" >"$bundle_id.source.json.sha256")
cp managed-runtime-bundles.json "$out_dir/managed-runtime-bundles.json"
echo "wrote $source_json"
