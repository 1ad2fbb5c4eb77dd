"""Lifecycle and metadata methods: initialize, shutdown, plugin.manifest, adapters.*."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..core.descriptors import RuntimeAdapterContract, RuntimeDescriptor
from ..core.wire import RawJSON
from ..operations.catalog import RuntimeAdapterCatalogDocument, adapter_contract, adapters_catalog
from ..operations.metadata import plugin_manifest
from .registry import AnyMethod, RequestContext, method


class HostInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    version: str


class InitializeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    protocol_version: Literal["compute.v1alpha1"]
    host: HostInfo | None = None


class ServerLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_message_bytes: int
    max_concurrent_requests: int


class InitializeResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    description: str
    protocol_version: Literal["compute.v1alpha1"]
    methods: list[str]
    host_owned_responsibilities: list[str]
    limits: ServerLimits


class AdapterContractParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    adapter_id: Literal["sandboxed-command", "sandboxed-container-build"]
    descriptor: RuntimeDescriptor


async def _manifest(_: None, ctx: RequestContext) -> RawJSON:
    # The file's own key order is kept (a map would be re-sorted on output).
    return RawJSON(value=plugin_manifest())


async def _catalog(_: None, ctx: RequestContext) -> RawJSON:
    return RawJSON(value=adapters_catalog())


def _contract(params: AdapterContractParams, ctx: RequestContext) -> RuntimeAdapterContract:
    return adapter_contract(params.adapter_id, params.descriptor)


async def _not_dispatched(params: Any, ctx: RequestContext) -> None:
    raise AssertionError("initialize and shutdown are answered by the engine")


LIFECYCLE_METHODS: list[AnyMethod] = [
    method("initialize", InitializeParams, InitializeResult, _not_dispatched),
    method("shutdown", None, None, _not_dispatched),
]

METHODS: list[AnyMethod] = [
    method("plugin.manifest", None, dict[str, Any], _manifest),
    method("adapters.catalog", None, RuntimeAdapterCatalogDocument, _catalog),
    method("adapters.contract", AdapterContractParams, RuntimeAdapterContract, _contract),
]
