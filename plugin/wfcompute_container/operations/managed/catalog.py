"""The managed runtime bundle catalog (`managed-runtime-bundles.json`) and its policy checks.

The catalog lists pinned bundles plus the trust roots their signatures are checked against,
and a release-wide policy (blocked versions, revoked keys, minimum version, stable key) that
applies on top of each bundle's own validation.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import ClassVar

from ...core.managed_bundle import ManagedRuntimeBundleDescriptor
from ...core.wire import ZERO_TIME, GoTime, OmitRule, WireModel
from ...errors import InvalidInput
from ...goparity.jsondecode import unmarshal_document
from ...goparity.text import first_non_empty, quote, trim_space
from ...goparity.timefmt import is_zero_time
from ...workspace.paths import read_regular_file

CATALOG_FILE_NAME = "managed-runtime-bundles.json"


class ManagedRuntimeTrustRoot(WireModel):
    """A pinned OpenPGP public key (by object name and digest) for one signing key id."""

    __omit__: ClassVar[dict[str, OmitRule]] = {"url": "empty", "issuer": "empty"}

    key_id: str = ""
    name: str = ""
    url: str = ""
    digest: str = ""
    issuer: str = ""


class ManagedRuntimeBundleCatalog(WireModel):
    __omit__: ClassVar[dict[str, OmitRule]] = {
        "release_tag": "empty",
        "source_base_url": "empty",
        "trust_roots": "empty",
        "blocked_versions": "empty",
        "revoked_key_ids": "empty",
        "minimum_version": "empty",
        "stable_signing_key": "empty",
    }

    release_tag: str = ""
    source_base_url: str = ""
    generated_at: GoTime = ZERO_TIME
    bundles: list[ManagedRuntimeBundleDescriptor] | None = None
    trust_roots: list[ManagedRuntimeTrustRoot] | None = None
    blocked_versions: list[str] | None = None
    revoked_key_ids: list[str] | None = None
    minimum_version: str = ""
    stable_signing_key: str = ""

    def bundle(self, bundle_id: str, now: datetime | None) -> ManagedRuntimeBundleDescriptor:
        """The first bundle with exactly this id, after the catalog's policy checks."""
        if trim_space(bundle_id) == "":
            raise InvalidInput("bundle_id is required")
        if is_zero_time(now):
            raise InvalidInput("validation time is required")
        for candidate in self.bundles or []:
            if candidate.bundle_id == bundle_id:
                self._check_policy(candidate, now)
                return candidate
        raise InvalidInput(f"managed runtime bundle {quote(bundle_id)} not found")

    def bundle_for_target(
        self, bundle_id: str, os_name: str, arch: str, now: datetime | None
    ) -> ManagedRuntimeBundleDescriptor:
        """`bundle` plus a supported target equal to the requested os/arch."""
        bundle = self.bundle(bundle_id, now)
        want_os, want_arch = trim_space(os_name), trim_space(arch)
        if want_os == "" or want_arch == "" or not bundle.supports(want_os, want_arch):
            raise InvalidInput(
                f"managed runtime bundle {quote(bundle_id)} does not support {os_name}/{arch}"
            )
        return bundle

    def trust_root_for_bundle(
        self, bundle: ManagedRuntimeBundleDescriptor
    ) -> ManagedRuntimeTrustRoot:
        for root in self.trust_roots or []:
            if (
                _same_key(root.key_id, bundle.signature_key_id)
                and root.digest == bundle.trust_root_digest
            ):
                if trim_space(root.name) == "":
                    raise InvalidInput(
                        "managed runtime trust root for key "
                        f"{quote(bundle.signature_key_id)} has no object name"
                    )
                return root
        raise InvalidInput(
            "managed runtime trust root for signing key "
            f"{quote(bundle.signature_key_id)} and digest {quote(bundle.trust_root_digest)} "
            "not found"
        )

    def _check_policy(self, bundle: ManagedRuntimeBundleDescriptor, now: datetime | None) -> None:
        error = bundle.validate_at(now)
        if error is not None:
            raise InvalidInput(error)
        blocked = [
            *(self.blocked_versions or []),
            *(bundle.update_policy.blocked_versions or []),
            *(bundle.cve_policy.blocked_versions or []),
        ]
        if bundle.version in blocked:
            raise InvalidInput(f"managed runtime bundle version {quote(bundle.version)} is blocked")
        revoked = [*(self.revoked_key_ids or []), *(bundle.cve_policy.revoked_key_ids or [])]
        # Key ids are hex: compare them case-insensitively, as the signer check does.
        if bundle.signature_key_id.upper() in {key_id.upper() for key_id in revoked}:
            raise InvalidInput(
                f"managed runtime bundle signing key {quote(bundle.signature_key_id)} is revoked"
            )
        minimum = first_non_empty(self.minimum_version, bundle.update_policy.min_supported_version)
        if minimum != "" and semver_less(bundle.version, minimum):
            raise InvalidInput(
                f"managed runtime bundle version {quote(bundle.version)} "
                f"is below minimum {quote(minimum)}"
            )
        if self.stable_signing_key != "" and not _same_key(
            self.stable_signing_key, bundle.signature_key_id
        ):
            raise InvalidInput(
                f"managed runtime bundle signing key {quote(bundle.signature_key_id)} "
                "does not match stable signing key"
            )


def semver_less(left: str, right: str) -> bool:
    """The reference's loose version order: three Atoi parts, any bad part zeroes the version."""
    return _semver_parts(left) < _semver_parts(right)


def _semver_parts(version: str) -> tuple[int, int, int]:
    text = trim_space(version)
    if text.startswith("v"):
        text = text[1:]
    parts = text.split(".")[:3]
    numbers: list[int] = []
    for part in parts:
        number = _go_atoi(part)
        if number is None:
            return (0, 0, 0)
        numbers.append(number)
    while len(numbers) < 3:
        numbers.append(0)
    return (numbers[0], numbers[1], numbers[2])


def _go_atoi(text: str) -> int | None:
    """Go strconv.Atoi: optional sign, then ASCII decimal digits only (64-bit range)."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if digits == "" or not all("0" <= ch <= "9" for ch in digits):
        return None
    value = int(text)
    if not -(2**63) <= value < 2**63:
        return None
    return value


class CatalogError(InvalidInput):
    """The catalog file could not be read or decoded."""


def decode_catalog(data: bytes) -> ManagedRuntimeBundleCatalog:
    """Decode catalog JSON; raises ValueError (GoJSONError) with a JSON-decoder text.

    Go's key rules apply: a newer catalog with extra fields still loads, as for the reference.
    """
    return unmarshal_document(
        data, ManagedRuntimeBundleCatalog, "Go value of type container.ManagedRuntimeBundleCatalog"
    )


MAX_CATALOG_BYTES = 16 * 1024 * 1024
"""A catalog larger than this is refused (the shipped one is a few kilobytes)."""


def load_catalog(path: str | Path) -> ManagedRuntimeBundleCatalog:
    """Read and decode a catalog file with the CLI's error texts. Blocking: call it from a
    worker thread. The file must be a regular file (no link, FIFO or device) of at most
    MAX_CATALOG_BYTES."""
    try:
        data = read_regular_file(str(path), MAX_CATALOG_BYTES)
    except OSError as err:
        raise CatalogError(f"read managed runtime catalog: {err}") from err
    try:
        return decode_catalog(data)
    except ValueError as err:
        raise CatalogError(f"decode managed runtime catalog: {err}") from err


def default_catalog_path() -> Path:
    """The shipped catalog (next to plugin.json in a wheel; the repository root in a checkout)."""
    try:
        from ...resources import data_path

        return data_path(CATALOG_FILE_NAME)
    except (ImportError, FileNotFoundError):
        return Path(__file__).resolve().parents[4] / CATALOG_FILE_NAME


def _same_key(left: str, right: str) -> bool:
    """OpenPGP key ids are hex: equal whatever the case of their letters."""
    return left.upper() == right.upper()
