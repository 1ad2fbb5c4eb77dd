"""Catalog policy checks (reference v0.4.0/v0.5.0) and the shipped catalog's pins."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wfcompute_container.errors import InvalidInput
from wfcompute_container.operations.managed.catalog import (
    ManagedRuntimeBundleCatalog,
    decode_catalog,
    default_catalog_path,
    load_catalog,
    semver_less,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED: dict[str, Any] = json.loads((REPO / "managed-runtime-bundles.json").read_text())
BUNDLE_ID = "managed-containerd-linux-amd64"
AT = datetime(2026, 6, 11, tzinfo=UTC)


def catalog(change: Any = None) -> ManagedRuntimeBundleCatalog:
    document = copy.deepcopy(SHIPPED)
    if change is not None:
        change(document)
    return ManagedRuntimeBundleCatalog.model_validate(document)


def refused(cat: ManagedRuntimeBundleCatalog, bundle_id: str = BUNDLE_ID) -> str:
    with pytest.raises(InvalidInput) as caught:
        cat.bundle_for_target(bundle_id, "linux", "amd64", AT)
    return str(caught.value)


def test_shipped_catalog_pins() -> None:
    cat = load_catalog(default_catalog_path())
    assert cat.to_wire() == SHIPPED
    assert list(cat.to_wire()) == [
        "release_tag", "source_base_url", "generated_at", "bundles", "trust_roots",
        "minimum_version", "stable_signing_key",
    ]  # fmt: skip
    assert cat.release_tag == "v2.3.1"
    assert cat.source_base_url == "https://github.com/containerd/nerdctl/releases/download/v2.3.1"
    bundle = cat.bundle_for_target(BUNDLE_ID, "linux", "amd64", cat.generated_at)
    assert bundle.validate_at(cat.generated_at) is None
    assert bundle.artifact_digest == (
        "sha256:7a0d8efcf55b10b57d831541266adb9c6ec3d55b44ec041c95f6eb994d1faab9"
    )
    assert bundle.checksum_digest == (
        "sha256:8a0586ff11d4d5a5d19d59494a10af8c6d41dd95ca72ff347f62d5288bc5131a"
    )
    assert bundle.signature_digest == (
        "sha256:f87400e0923e22eab251328bd210bb9e8d3bba2b58dbbb84699622474344d68c"
    )
    root = cat.trust_root_for_bundle(bundle)
    assert (root.key_id, root.name, root.url) == (
        "E14F08B8908ED6E8",
        "ChengyuZhu6.gpg",
        "https://github.com/ChengyuZhu6.gpg",
    )
    text = (REPO / "managed-runtime-bundles.json").read_text()
    for placeholder in ("1" * 32, "2" * 32, "3" * 32):
        assert placeholder not in text


def test_blank_id_and_zero_time() -> None:
    with pytest.raises(InvalidInput, match=r"^bundle_id is required$"):
        catalog().bundle(" ", AT)
    with pytest.raises(InvalidInput, match=r"^validation time is required$"):
        catalog().bundle(BUNDLE_ID, None)


def test_unknown_bundle() -> None:
    assert refused(catalog(), "other") == 'managed runtime bundle "other" not found'


def test_first_bundle_with_the_id_wins() -> None:
    def duplicate(doc: dict[str, Any]) -> None:
        second = copy.deepcopy(doc["bundles"][0])
        second["version"] = "v9.9.9"
        doc["bundles"].append(second)

    assert catalog(duplicate).bundle(BUNDLE_ID, AT).version == "v2.3.1"


def test_bundle_validation_error_is_returned_as_is() -> None:
    def expire(doc: dict[str, Any]) -> None:
        doc["bundles"][0]["valid_until"] = "2026-01-01T00:00:00Z"

    assert refused(catalog(expire)) == "valid_until must be in the future"


@pytest.mark.parametrize(
    "where",
    [
        lambda d: d.update(blocked_versions=["v2.3.1"]),
        lambda d: d["bundles"][0]["update_policy"].update(blocked_versions=["v2.3.1"]),
        lambda d: d["bundles"][0]["cve_policy"].update(blocked_versions=["v2.3.1"]),
    ],
)
def test_blocked_version(where: Any) -> None:
    assert refused(catalog(where)) == 'managed runtime bundle version "v2.3.1" is blocked'


@pytest.mark.parametrize(
    "where",
    [
        lambda d: d.update(revoked_key_ids=["E14F08B8908ED6E8"]),
        lambda d: d["bundles"][0]["cve_policy"].update(revoked_key_ids=["E14F08B8908ED6E8"]),
    ],
)
def test_revoked_key(where: Any) -> None:
    assert refused(catalog(where)) == (
        'managed runtime bundle signing key "E14F08B8908ED6E8" is revoked'
    )


@pytest.mark.parametrize("key_id", ["e14f08b8908ed6e8", "E14f08B8908eD6e8"])
def test_revoked_key_matches_whatever_the_case(key_id: str) -> None:
    assert refused(catalog(lambda d: d.update(revoked_key_ids=[key_id]))) == (
        'managed runtime bundle signing key "E14F08B8908ED6E8" is revoked'
    )


def test_minimum_version_from_catalog_then_update_policy() -> None:
    def raise_minimum(doc: dict[str, Any]) -> None:
        doc["minimum_version"] = "v2.4.0"

    assert refused(catalog(raise_minimum)) == (
        'managed runtime bundle version "v2.3.1" is below minimum "v2.4.0"'
    )

    def policy_minimum(doc: dict[str, Any]) -> None:
        doc["minimum_version"] = ""
        doc["bundles"][0]["update_policy"]["min_supported_version"] = "v3"

    assert refused(catalog(policy_minimum)) == (
        'managed runtime bundle version "v2.3.1" is below minimum "v3"'
    )


def test_stable_signing_key() -> None:
    def other(doc: dict[str, Any]) -> None:
        doc["stable_signing_key"] = "0000000000000000"

    assert refused(catalog(other)) == (
        'managed runtime bundle signing key "E14F08B8908ED6E8" does not match stable signing key'
    )


def test_policy_order_blocked_before_revoked() -> None:
    def both(doc: dict[str, Any]) -> None:
        doc["blocked_versions"] = ["v2.3.1"]
        doc["revoked_key_ids"] = ["E14F08B8908ED6E8"]

    assert "is blocked" in refused(catalog(both))


@pytest.mark.parametrize(
    ("os_name", "arch"), [("windows", "amd64"), ("linux", "arm64"), ("", "amd64"), (" ", " ")]
)
def test_target_must_be_supported(os_name: str, arch: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        catalog().bundle_for_target(BUNDLE_ID, os_name, arch, AT)
    assert str(caught.value) == (
        f'managed runtime bundle "{BUNDLE_ID}" does not support {os_name}/{arch}'
    )


def test_target_is_trimmed() -> None:
    assert catalog().bundle_for_target(BUNDLE_ID, " linux ", "amd64\n", AT).os == "linux"


def test_trust_root_lookup() -> None:
    cat = catalog()
    bundle = cat.bundle(BUNDLE_ID, AT)

    def nameless(doc: dict[str, Any]) -> None:
        doc["trust_roots"][0]["name"] = " "

    with pytest.raises(InvalidInput) as caught:
        catalog(nameless).trust_root_for_bundle(bundle)
    assert str(caught.value) == (
        'managed runtime trust root for key "E14F08B8908ED6E8" has no object name'
    )

    def other_digest(doc: dict[str, Any]) -> None:
        doc["trust_roots"][0]["digest"] = "sha256:" + "0" * 64

    with pytest.raises(InvalidInput) as caught:
        catalog(other_digest).trust_root_for_bundle(bundle)
    assert str(caught.value) == (
        'managed runtime trust root for signing key "E14F08B8908ED6E8" and digest '
        f'"{bundle.trust_root_digest}" not found'
    )


@pytest.mark.parametrize(
    ("left", "right", "less"),
    [
        ("v2.3.0", "v2.3.1", True),
        ("v2.3.1", "v2.3.1", False),
        ("2.10.0", "2.9.9", False),
        ("v1", "v1.0.1", True),
        ("v2.3.1-rc1", "v0.0.1", True),  # a bad part zeroes the version
        (" v3.0.0 ", "v2", False),
        ("vv1", "v0.0.1", True),
        ("+1.2.3", "1.2.4", True),
        ("1.2.3.9", "1.2.3", False),
        ("1. 2", "0.0.1", True),
    ],
)
def test_semver_less(left: str, right: str, less: bool) -> None:
    assert semver_less(left, right) is less


def test_load_catalog_errors(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    with pytest.raises(InvalidInput) as caught:
        load_catalog(missing)
    assert str(caught.value) == (
        f"read managed runtime catalog: open {missing}: no such file or directory"
    )
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(InvalidInput) as caught:
        load_catalog(bad)
    assert str(caught.value).startswith("decode managed runtime catalog: invalid character 'n'")
    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(InvalidInput, match="unexpected end of JSON input"):
        load_catalog(empty)


def test_decode_null_is_an_empty_catalog() -> None:
    assert decode_catalog(b"null").bundles is None


def test_decoding_follows_go_rules_for_keys() -> None:
    # Unknown keys are ignored (a newer catalog still loads) and keys match case-insensitively.
    document = copy.deepcopy(SHIPPED)
    document["future_field"] = {"x": 1}
    document["bundles"][0]["future_field"] = True
    document["bundles"][0]["scoped_store"]["future_field"] = True
    document["Release_Tag"] = document.pop("release_tag")
    document["trust_roots"][0]["KEY_ID"] = document["trust_roots"][0].pop("key_id")
    cat = decode_catalog(json.dumps(document).encode())
    assert cat.to_wire() == SHIPPED


def test_catalog_path_that_is_a_directory_fails_the_read(tmp_path: Path) -> None:
    # Go's os.ReadFile opens a directory and fails the read: `read`, not `open`.
    with pytest.raises(InvalidInput) as caught:
        load_catalog(tmp_path)
    assert str(caught.value) == f"read managed runtime catalog: read {tmp_path}: is a directory"
