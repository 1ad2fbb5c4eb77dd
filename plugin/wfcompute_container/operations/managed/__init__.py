"""Managed containerd runtime bundles: catalog policy, verified install, doctor, uninstall.

`ManagedRuntimeBundleInstaller` is the entry point for the four lifecycle operations;
`managed_probe_options` turns installed bundles into `runtime.probe` definitions.
"""

from .catalog import (
    ManagedRuntimeBundleCatalog,
    ManagedRuntimeTrustRoot,
    default_catalog_path,
    load_catalog,
    semver_less,
)
from .installer import (
    BundleRequest,
    ManagedRuntimeBundleInstaller,
    ManagedRuntimeDoctorResult,
    ManagedRuntimeInstallResult,
    ManagedRuntimeReinstallResult,
    ManagedRuntimeUninstallResult,
)
from .probes import managed_probe_options

__all__ = [
    "BundleRequest",
    "ManagedRuntimeBundleCatalog",
    "ManagedRuntimeBundleInstaller",
    "ManagedRuntimeDoctorResult",
    "ManagedRuntimeInstallResult",
    "ManagedRuntimeReinstallResult",
    "ManagedRuntimeTrustRoot",
    "ManagedRuntimeUninstallResult",
    "default_catalog_path",
    "load_catalog",
    "managed_probe_options",
    "semver_less",
]
