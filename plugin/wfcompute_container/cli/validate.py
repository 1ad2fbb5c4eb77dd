"""`validate`: the shipped metadata files and schemas, checked the way the server uses them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import __version__
from ..resources import data_root


def _load_json(root: Path, name: str, problems: list[str]) -> Any:
    path = root / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{name}: file not found at {path}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{name}: not valid JSON: {exc}")
    return None


def _check_manifest(root: Path, manifest: Any, problems: list[str]) -> None:
    if not isinstance(manifest, dict):
        problems.append("plugin.json: must be a JSON object")
        return
    for key in ("name", "version", "description", "runtimeAdaptersRef"):
        if not isinstance(manifest.get(key), str) or not manifest.get(key):
            problems.append(f"plugin.json: {key} is required")
    if manifest.get("name") not in (None, "workflow-plugin-compute-container"):
        problems.append(f"plugin.json: name {manifest.get('name')!r} is not this plugin")
    if isinstance(manifest.get("version"), str) and manifest["version"] != __version__:
        problems.append(
            f"plugin.json: version {manifest['version']!r} differs from the package {__version__!r}"
        )
    for key in ("runtimeAdaptersRef", "managedRuntimeBundlesRef"):
        ref = manifest.get(key)
        if isinstance(ref, str) and ref and not (root / ref).is_file():
            problems.append(f"plugin.json: {key} {ref!r} does not name a shipped file")


def _check_contracts(document: Any, problems: list[str]) -> None:
    """plugin.contracts.json: the contract and protocol-type entries the host reads."""
    name = "plugin.contracts.json"
    if not isinstance(document, dict):
        problems.append(f"{name}: must be a JSON object")
        return
    if document.get("version") != "1":
        problems.append(f'{name}: version must be "1"')
    for section in ("contracts", "protocolTypes"):
        entries = document.get(section)
        if not isinstance(entries, list):
            problems.append(f"{name}: {section} must be a list")
            continue
        for index, entry in enumerate(entries):
            for key in ("name", "wire", "goType"):
                value = entry.get(key) if isinstance(entry, dict) else None
                if not isinstance(value, str) or not value:
                    problems.append(f"{name}: {section}[{index}].{key} is required")


def validate_all(root: Path | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes): every problem found, and what was checked successfully.

    `root` is the directory holding plugin.json, runtime-adapters.json and schemas/
    (default: the shipped files).
    """
    base = root or data_root()
    from ..operations.catalog import RuntimeAdapterCatalogDocument
    from ..server.app import all_methods
    from ..server.schemas import check_files, generate, load_all

    problems: list[str] = []
    notes: list[str] = []

    before = len(problems)
    _check_manifest(base, _load_json(base, "plugin.json", problems), problems)
    if len(problems) == before:
        notes.append("plugin.json")

    before = len(problems)
    contracts = _load_json(base, "plugin.contracts.json", problems)
    if contracts is not None:
        _check_contracts(contracts, problems)
    if len(problems) == before:
        notes.append("plugin.contracts.json")

    before = len(problems)
    catalog = _load_json(base, "runtime-adapters.json", problems)
    if catalog is not None:
        try:
            document = RuntimeAdapterCatalogDocument.model_validate(catalog)
        except ValueError as exc:
            problems.append(f"runtime-adapters.json: does not match the catalog document: {exc}")
        else:
            problem = document.validation_error()
            if problem:
                problems.extend(f"runtime-adapters.json: {line}" for line in problem.splitlines())
    if len(problems) == before:
        notes.append("runtime-adapters.json")

    before = len(problems)
    try:
        files = load_all(base / "schemas")
    except (OSError, json.JSONDecodeError) as exc:
        problems.append(f"schemas: cannot be read: {exc}")
        files = {}
    problems.extend(check_files(files))
    generated = generate(all_methods())
    for rel in sorted(set(generated) - set(files)):
        problems.append(f"schemas/{rel}: missing (regenerate the schemas)")
    for rel in sorted(set(generated) & set(files)):
        if generated[rel] != files[rel]:
            problems.append(f"schemas/{rel}: differs from the method models (regenerate)")
    if len(problems) == before:
        notes.append(f"{len(files)} schemas")
    return problems, notes
