"""The release hook for the managed bundle pins what the shipped catalog pins, and refuses an
object whose digest is not the pinned one."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "package-managed-runtime-bundle.sh"


def pins() -> dict[str, str]:
    found = re.findall(r'^([a-z_]+)="([^"$]*)"$', SCRIPT.read_text(), flags=re.MULTILINE)
    return dict(found)


def test_script_pins_match_the_catalog() -> None:
    catalog = json.loads((REPO / "managed-runtime-bundles.json").read_text())
    (bundle,) = catalog["bundles"]
    (trust_root,) = catalog["trust_roots"]
    pinned = pins()
    assert pinned["release_tag"] == catalog["release_tag"] == "v2.3.1"
    assert pinned["bundle_id"] == bundle["bundle_id"]
    assert pinned["artifact_name"] == bundle["artifact_name"]
    for kind in ("artifact", "checksum", "signature"):
        assert "sha256:" + pinned[f"{kind}_digest"] == bundle[f"{kind}_digest"], kind
    assert pinned["checksum_name"] == bundle["checksum_name"]
    assert pinned["signature_name"] == bundle["signature_name"]
    assert pinned["trust_root_name"] == trust_root["name"]
    assert pinned["trust_root_url"] == trust_root["url"]
    assert "sha256:" + pinned["trust_root_digest"] == trust_root["digest"]
    assert trust_root["digest"] == bundle["trust_root_digest"]
    # The checksum list must pin the artifact, line for line.
    assert 'grep -F -x -q "$artifact_digest  $artifact_name"' in SCRIPT.read_text()


def test_a_mirror_object_with_another_digest_is_refused(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    fake = b"0" * 64 + b"  nerdctl-full-2.3.1-linux-amd64.tar.gz\n"
    (mirror / "SHA256SUMS").write_bytes(fake)
    out = tmp_path / "out"
    env = dict(
        os.environ,
        WFCOMPUTE_BUNDLE_SOURCE_BASE_URL=mirror.as_uri(),
        WFCOMPUTE_BUNDLE_OUT_DIR=str(out),
    )
    done = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1, done.stderr
    got = hashlib.sha256(fake).hexdigest()
    want = pins()["checksum_digest"]
    assert done.stderr.strip() == (
        f"managed runtime bundle digest mismatch for {out}/SHA256SUMS: got {got} want {want}"
    )
    assert not (out / "managed-containerd-linux-amd64.source.json").exists()
