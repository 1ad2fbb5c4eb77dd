"""Probe definitions for installed managed containerd bundles (reference v0.4.0).

Each catalog bundle that fits this machine becomes one `bundled` probe of
`<install-root>/<bundle-id>/bin/nerdctl`, run in its own opaque `--namespace wfcompute-…`
scope. The probe flow itself (bundle checks, scope evidence) lives in `operations.probes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ...core.enums import RUNTIME_INSTALL_BUNDLED
from ...core.managed_bundle import ManagedRuntimeBundleDescriptor
from ...errors import InvalidInput
from ...goparity.paths import abs_path, join
from ...goparity.platform import go_arch, go_os
from ...goparity.text import trim_space
from ...goparity.timefmt import is_zero_time
from ..probes import (
    DEFAULT_CONFORMANCE_COMMAND,
    DEFAULT_CONFORMANCE_IMAGE,
    DEFAULT_CONFORMANCE_PROFILE,
    DEFAULT_RUNTIME_PROFILES,
    DEFAULT_VERSION_ARGS,
    ProbeOptions,
    managed_runtime_scope_name,
)
from .catalog import ManagedRuntimeBundleCatalog
from .layout import COMMAND_RELATIVE_PATH

DEFAULT_MANAGED_BACKEND_ID = "managed-containerd"


@dataclass(frozen=True)
class ManagedContainerdInstallation:
    bundle: ManagedRuntimeBundleDescriptor
    root: str
    command_path: str


def managed_installation(
    bundle: ManagedRuntimeBundleDescriptor, root: str
) -> ManagedContainerdInstallation:
    if trim_space(root) == "":
        raise InvalidInput("managed runtime root is required")
    absolute = abs_path(root)
    return ManagedContainerdInstallation(
        bundle=bundle, root=absolute, command_path=join(absolute, COMMAND_RELATIVE_PATH)
    )


def managed_runtime_scope_args(*parts: str) -> tuple[str, ...]:
    return ("--namespace", managed_runtime_scope_name(*parts))


def managed_containerd_probe_options(
    installation: ManagedContainerdInstallation | None,
    generated_at: datetime | None = None,
    *,
    conformance_image: str = "",
    conformance_command: Sequence[str] = (),
    conformance_workspace: str = "",
) -> ProbeOptions:
    """One managed probe; without an installation it reports `unsupported` when run."""
    bundle = installation.bundle if installation is not None else None
    backend_id = (bundle.bundle_id if bundle is not None else "") or DEFAULT_MANAGED_BACKEND_ID
    profile = (bundle.conformance_profile if bundle is not None else "") or (
        DEFAULT_CONFORMANCE_PROFILE
    )
    return ProbeOptions(
        backend_id=backend_id,
        family="containerd",
        tool="nerdctl",
        command=installation.command_path if installation is not None else "",
        isolation_mode="user-namespace",
        install_burden=RUNTIME_INSTALL_BUNDLED,
        version_args=DEFAULT_VERSION_ARGS,
        conformance_image=conformance_image or DEFAULT_CONFORMANCE_IMAGE,
        conformance_command=tuple(conformance_command) or DEFAULT_CONFORMANCE_COMMAND,
        conformance_workspace=conformance_workspace,
        runtime_profiles=DEFAULT_RUNTIME_PROFILES,
        conformance_profiles=(profile,),
        generated_at=generated_at,
        runtime_scope_args=managed_runtime_scope_args(backend_id, profile),
        managed_bundle=bundle,
    )


def managed_probe_options(
    catalog: ManagedRuntimeBundleCatalog,
    install_root: str,
    generated_at: datetime | None = None,
    *,
    target_os: str | None = None,
    target_arch: str | None = None,
    conformance_image: str = "",
    conformance_command: Sequence[str] = (),
    conformance_workspace: str = "",
) -> list[ProbeOptions]:
    """Probes for every catalog bundle usable on this machine (others skipped silently)."""
    if trim_space(install_root) == "":
        return []
    if generated_at is None or is_zero_time(generated_at):
        generated_at = datetime.now(UTC)
    os_name = go_os() if target_os is None else target_os
    arch = go_arch() if target_arch is None else target_arch
    probes: list[ProbeOptions] = []
    for candidate in catalog.bundles or []:
        try:
            bundle = catalog.bundle_for_target(candidate.bundle_id, os_name, arch, generated_at)
            installation = managed_installation(bundle, join(install_root, bundle.bundle_id))
        except InvalidInput:
            continue
        probes.append(
            managed_containerd_probe_options(
                installation,
                generated_at,
                conformance_image=conformance_image,
                conformance_command=conformance_command,
                conformance_workspace=conformance_workspace,
            )
        )
    return probes
