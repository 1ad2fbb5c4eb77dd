"""compute-core enum strings and constants.

Enum types are plain strings in Go and are not checked when decoding, so models keep them as
``str`` fields; the ``VALID_*`` sets are what the validators accept (the empty string never is).
"""

from __future__ import annotations

PROTOCOL_VERSION = "compute.v1alpha1"
MAX_RUNTIME_RESULT_PREVIEW_BYTES = 16 * 1024

# WorkloadKind
WORKLOAD_COMMAND = "command"
WORKLOAD_CONTAINER_BUILD = "container-build"
VALID_WORKLOAD_KINDS = frozenset(
    {
        WORKLOAD_COMMAND,
        WORKLOAD_CONTAINER_BUILD,
        "docker-compose-build",
        "benchmark",
        "training",
        "service",
        "node-service",
        "content-cache",
        "supervisor",
        "product-capture",
        "provider",
        "wasm-component",
    }
)

# RuntimeProfile
VALID_RUNTIME_PROFILES = frozenset(
    {
        "sandboxed-oci-v1",
        "container-build-v1",
        "service-oci-v1",
        "wasm-component-v1",
        "browser-worker-wasm-v1",
    }
)

# ContainerRuntimeTool
VALID_CONTAINER_RUNTIME_TOOLS = frozenset(
    {
        "podman",
        "docker",
        "nerdctl",
        "apple-container",
    }
)

# ExecutionSecurityTier
VALID_EXECUTION_SECURITY_TIERS = frozenset(
    {
        "trusted-native",
        "hardened-container",
        "sandboxed-container",
        "microvm",
        "confidential-cpu",
        "confidential-gpu",
        "wasm-capability",
    }
)
# Tiers that run no image/rootfs of their own, so need no image or rootfs digest.
NATIVE_EXECUTION_TIERS = frozenset({"trusted-native", "wasm-capability"})

# ProofTier
VALID_PROOF_TIERS = frozenset(
    {
        "receipt-only",
        "artifact-hash",
        "replicated-quorum",
        "attested-receipt",
        "attested-quorum",
        "zk-replay",
    }
)

# RuntimeAdapterKind
VALID_RUNTIME_ADAPTER_KINDS = frozenset({"execution", "service-run", "service-session"})
SERVICE_ADAPTER_KINDS = frozenset({"service-run", "service-session"})
SERVICE_WORKLOAD_KINDS = frozenset({"service", "node-service"})

# RuntimeWorkspacePolicy
VALID_RUNTIME_WORKSPACE_POLICIES = frozenset({"unavailable", "optional", "required"})

# RuntimeBackendStatus
RUNTIME_BACKEND_SUPPORTED = "supported"
RUNTIME_BACKEND_DEGRADED = "degraded"
RUNTIME_BACKEND_UNSUPPORTED = "unsupported"
VALID_RUNTIME_BACKEND_STATUSES = frozenset(
    {RUNTIME_BACKEND_SUPPORTED, RUNTIME_BACKEND_DEGRADED, RUNTIME_BACKEND_UNSUPPORTED}
)

# RuntimeBackendFamily
VALID_RUNTIME_BACKEND_FAMILIES = frozenset(
    {
        "podman",
        "docker",
        "nerdctl",
        "containerd",
        "apple-container",
        "hyper-v",
        "wsl",
    }
)

# RuntimeIsolationMode
RUNTIME_ISOLATION_USER_NAMESPACE = "user-namespace"
RUNTIME_ISOLATION_VM_BACKED_CONTAINER = "vm-backed-container"
VALID_RUNTIME_ISOLATION_MODES = frozenset(
    {
        "shared-kernel-container",
        RUNTIME_ISOLATION_USER_NAMESPACE,
        RUNTIME_ISOLATION_VM_BACKED_CONTAINER,
        "microvm",
        "confidential-runtime",
    }
)

# RuntimeInstallBurden
RUNTIME_INSTALL_BUNDLED = "bundled"
VALID_RUNTIME_INSTALL_BURDENS = frozenset(
    {
        RUNTIME_INSTALL_BUNDLED,
        "system-installed",
        "desktop-managed",
        "wsl-hyper-v",
        "unsupported",
    }
)

# ProviderCapabilityStatus
PROVIDER_CAPABILITY_SUPPORTED = "supported"

# ResidueMode
RESIDUE_MODE_WORKER_BOUND = "worker-bound"
RESIDUE_MODE_SESSION_BOUND = "session-bound"
VALID_RESIDUE_MODES = frozenset(
    {
        "isolated",
        "none",
        "provider-bound",
        RESIDUE_MODE_WORKER_BOUND,
        RESIDUE_MODE_SESSION_BOUND,
    }
)
REUSABLE_RESIDUE_MODES = frozenset(
    {"provider-bound", RESIDUE_MODE_WORKER_BOUND, RESIDUE_MODE_SESSION_BOUND}
)

# Plugin side, not core.
DEFAULT_EXECUTOR_VERSION = "dev"
