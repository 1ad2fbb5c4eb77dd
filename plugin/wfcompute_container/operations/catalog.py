"""The runtime adapter catalog (`runtime-adapters.json`): its document, rules and contracts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from ..core.descriptors import RuntimeAdapterContract, RuntimeDescriptor
from ..core.enums import PROTOCOL_VERSION
from ..core.wire import OmitRule, WireModel
from ..errors import InvalidInput
from ..goparity.text import join_errors, quote
from ..resources import data_path


class RuntimeAdapterCatalogEntry(WireModel):
    adapter_id: str = ""
    operation: str = ""
    kinds: list[str] | None = None
    workload_kinds: list[str] | None = None
    runtime_profiles: list[str] | None = None
    workspace_policy: str = ""
    conformance_profiles: list[str] | None = None

    def validation_errors(self) -> list[str]:
        checks = [
            (self.adapter_id == "", "adapter_id is required"),
            (self.operation == "", "operation is required"),
            (not self.kinds, "kinds is required"),
            (not self.workload_kinds, "workload_kinds is required"),
            (not self.runtime_profiles, "runtime_profiles is required"),
            (self.workspace_policy == "", "workspace_policy is required"),
            (not self.conformance_profiles, "conformance_profiles is required"),
        ]
        return [message for failed, message in checks if failed]

    def contract(self, descriptor: RuntimeDescriptor) -> RuntimeAdapterContract:
        """The entry's contract; the descriptor's name defaults to the adapter id."""
        if descriptor.name == "":
            descriptor = descriptor.model_copy(update={"name": self.adapter_id})
        return RuntimeAdapterContract(
            protocol_version=PROTOCOL_VERSION,
            adapter_id=self.adapter_id,
            descriptor=descriptor,
            kinds=list(self.kinds) if self.kinds is not None else None,
            workload_kinds=list(self.workload_kinds) if self.workload_kinds is not None else None,
            runtime_profiles=(
                list(self.runtime_profiles) if self.runtime_profiles is not None else None
            ),
            workspace_policy=self.workspace_policy,
            conformance_profiles=(
                list(self.conformance_profiles) if self.conformance_profiles is not None else None
            ),
        )


class RuntimeTarget(WireModel):
    os: str = ""
    arch: str = ""


class RuntimeBackendCatalogEntry(WireModel):
    __omit__: ClassVar[dict[str, OmitRule]] = {"supported_targets": "empty"}

    backend_id: str = ""
    families: list[str] | None = None
    tools: list[str] | None = None
    supported_targets: list[RuntimeTarget] | None = None
    isolation_modes: list[str] | None = None
    install_burdens: list[str] | None = None
    runtime_profiles: list[str] | None = None
    executor_providers: list[str] | None = None
    conformance_profiles: list[str] | None = None

    def validation_errors(self) -> list[str]:
        checks = [
            (self.backend_id == "", "backend_id is required"),
            (not self.families, "families is required"),
            (not self.tools, "tools is required"),
            (not self.isolation_modes, "isolation_modes is required"),
            (not self.install_burdens, "install_burdens is required"),
            (not self.runtime_profiles, "runtime_profiles is required"),
            (not self.executor_providers, "executor_providers is required"),
            (not self.conformance_profiles, "conformance_profiles is required"),
        ]
        return [message for failed, message in checks if failed]


class RuntimeAdapterCatalogDocument(WireModel):
    __omit__: ClassVar[dict[str, OmitRule]] = {"runtime_backends": "empty"}

    version: str = ""
    protocol_version: str = ""
    adapters: list[RuntimeAdapterCatalogEntry] | None = None
    runtime_backends: list[RuntimeBackendCatalogEntry] | None = None
    host_owned_responsibilities: list[str] | None = None

    def validation_errors(self) -> list[str]:
        errors: list[str] = []
        if self.version == "":
            errors.append("version is required")
        if self.protocol_version != PROTOCOL_VERSION:
            errors.append(
                f"protocol_version = {quote(self.protocol_version)}, want {quote(PROTOCOL_VERSION)}"
            )
        if not self.adapters:
            errors.append("at least one adapter is required")
        for i, adapter in enumerate(self.adapters or []):
            inner = join_errors(adapter.validation_errors())
            if inner:
                errors.append(f"adapters[{i}]: {inner}")
        for i, backend in enumerate(self.runtime_backends or []):
            inner = join_errors(backend.validation_errors())
            if inner:
                errors.append(f"runtime_backends[{i}]: {inner}")
        if not self.host_owned_responsibilities:
            errors.append("host_owned_responsibilities is required")
        return errors

    def validation_error(self) -> str | None:
        return join_errors(self.validation_errors())

    def adapter(self, adapter_id: str) -> RuntimeAdapterCatalogEntry:
        for entry in self.adapters or []:
            if entry.adapter_id == adapter_id:
                return entry
        raise InvalidInput(f"runtime adapter {quote(adapter_id)} not found")


def load_catalog_text(
    path: Path | None = None,
) -> tuple[dict[str, Any], RuntimeAdapterCatalogDocument]:
    """Read a catalog file: its JSON content as written, and the parsed document."""
    source = path or data_path("runtime-adapters.json")
    raw = json.loads(source.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise InvalidInput(f"runtime adapter catalog {source.name} must be a JSON object")
    return raw, RuntimeAdapterCatalogDocument.model_validate(raw)


def adapters_catalog() -> dict[str, Any]:
    """runtime-adapters.json as shipped, after the catalog rules accept it."""
    raw, document = load_catalog_text()
    problem = document.validation_error()
    if problem:
        raise InvalidInput(problem)
    return raw


def shipped_catalog() -> RuntimeAdapterCatalogDocument:
    """The shipped catalog, checked against the catalog rules."""
    _, document = load_catalog_text()
    problem = document.validation_error()
    if problem:
        raise InvalidInput(problem)
    return document


def adapter_contract(adapter_id: str, descriptor: RuntimeDescriptor) -> RuntimeAdapterContract:
    """The shipped adapter's contract for a descriptor, validated by the core rules."""
    contract = shipped_catalog().adapter(adapter_id).contract(descriptor)
    problem = contract.validation_error()
    if problem:
        raise InvalidInput(problem)
    return contract
