"""What the plugin says about itself: its manifest and the `initialize` answer.

Kept free of pydantic and the wire models: `initialize` is answered from here at start-up,
before anything heavier is imported.
"""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from ..core.enums import PROTOCOL_VERSION
from ..errors import InvalidInput
from ..resources import data_path

PLUGIN_NAME = "workflow-plugin-compute-container"


def _shipped_object(name: str) -> dict[str, Any]:
    content = json.loads(data_path(name).read_text(encoding="utf-8"))
    if not isinstance(content, dict):
        raise InvalidInput(f"{name} must be a JSON object")
    return content


def plugin_manifest() -> dict[str, Any]:
    """plugin.json as shipped (key order kept)."""
    return _shipped_object("plugin.json")


def initialize_result(
    methods: list[str], *, max_message_bytes: int, max_concurrent_requests: int
) -> dict[str, Any]:
    """The `initialize` answer: who we are, what we serve, and the limits we hold to."""
    catalog = _shipped_object("runtime-adapters.json")
    return {
        "name": PLUGIN_NAME,
        "version": __version__,
        "description": plugin_manifest().get("description", ""),
        "protocol_version": PROTOCOL_VERSION,
        "methods": methods,
        "host_owned_responsibilities": catalog.get("host_owned_responsibilities") or [],
        "limits": {
            "max_message_bytes": max_message_bytes,
            "max_concurrent_requests": max_concurrent_requests,
        },
    }
