"""Managed runtime bundle methods: managed_runtime.install|doctor|uninstall|reinstall."""

from __future__ import annotations

import anyio.to_thread
from pydantic import BaseModel, ConfigDict

from ..goparity.platform import go_arch, go_os
from ..operations.managed import (
    BundleRequest,
    ManagedRuntimeBundleCatalog,
    ManagedRuntimeBundleInstaller,
    ManagedRuntimeDoctorResult,
    ManagedRuntimeInstallResult,
    ManagedRuntimeReinstallResult,
    ManagedRuntimeUninstallResult,
    default_catalog_path,
    load_catalog,
)
from .registry import AnyMethod, RequestContext, method


class ManagedBundleParams(BaseModel):
    """install, doctor and reinstall: a bundle of a catalog for a target under a root."""

    model_config = ConfigDict(extra="forbid")
    catalog: str | None = None
    """Catalog file path; default the shipped managed-runtime-bundles.json."""
    install_root: str
    bundle_id: str
    target_os: str | None = None
    """Go GOOS name; default this machine."""
    target_arch: str | None = None
    """Go GOARCH name; default this machine."""


class ManagedUninstallParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    install_root: str
    bundle_id: str


async def _installer(catalog_path: str | None, install_root: str) -> ManagedRuntimeBundleInstaller:
    """The catalog is read in a worker thread: a slow or hostile file never stalls the loop."""
    path = catalog_path if catalog_path is not None else str(default_catalog_path())
    catalog = await anyio.to_thread.run_sync(load_catalog, path)
    return ManagedRuntimeBundleInstaller(catalog, install_root)


def _request(params: ManagedBundleParams) -> BundleRequest:
    return BundleRequest(
        bundle_id=params.bundle_id,
        target_os=go_os() if params.target_os is None else params.target_os,
        target_arch=go_arch() if params.target_arch is None else params.target_arch,
    )


async def _install(params: ManagedBundleParams, ctx: RequestContext) -> ManagedRuntimeInstallResult:
    return await (await _installer(params.catalog, params.install_root)).install(_request(params))


async def _doctor(params: ManagedBundleParams, ctx: RequestContext) -> ManagedRuntimeDoctorResult:
    return await (await _installer(params.catalog, params.install_root)).doctor(_request(params))


async def _uninstall(
    params: ManagedUninstallParams, ctx: RequestContext
) -> ManagedRuntimeUninstallResult:
    # Uninstall does not consult the catalog, so a broken catalog cannot block a removal.
    installer = ManagedRuntimeBundleInstaller(ManagedRuntimeBundleCatalog(), params.install_root)
    return await installer.uninstall(BundleRequest(bundle_id=params.bundle_id))


async def _reinstall(
    params: ManagedBundleParams, ctx: RequestContext
) -> ManagedRuntimeReinstallResult:
    return await (await _installer(params.catalog, params.install_root)).reinstall(_request(params))


METHODS: list[AnyMethod] = [
    method(
        name="managed_runtime.install",
        params=ManagedBundleParams,
        result=ManagedRuntimeInstallResult,
        handler=_install,
        description="Install a pinned, signature-verified runtime bundle under install_root.",
    ),
    method(
        name="managed_runtime.doctor",
        params=ManagedBundleParams,
        result=ManagedRuntimeDoctorResult,
        handler=_doctor,
        description="Check an installed bundle against its manifest and the catalog.",
    ),
    method(
        name="managed_runtime.uninstall",
        params=ManagedUninstallParams,
        result=ManagedRuntimeUninstallResult,
        handler=_uninstall,
        description="Remove an installed bundle root (only one with a matching manifest).",
    ),
    method(
        name="managed_runtime.reinstall",
        params=ManagedBundleParams,
        result=ManagedRuntimeReinstallResult,
        handler=_reinstall,
        description="Install again, replacing the previous install only on success.",
    ),
]
