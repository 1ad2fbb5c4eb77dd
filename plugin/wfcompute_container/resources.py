"""Where the shipped data files live: `plugin.json`, `runtime-adapters.json`, `schemas/`, ...

An installed wheel carries them inside the package (`_data/`, see pyproject's force-include);
a checkout keeps them at the repository root, two levels above this package.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def data_root() -> Path:
    bundled = _PACKAGE_DIR / "_data"
    if (bundled / "plugin.json").is_file():
        return bundled
    checkout = _PACKAGE_DIR.parent.parent
    if (checkout / "plugin.json").is_file():
        return checkout
    raise FileNotFoundError(
        f"plugin data files not found in {bundled} or {checkout}; reinstall the package"
    )


def data_path(name: str) -> Path:
    """Path of a shipped data file or directory, e.g. `data_path("schemas")`."""
    return data_root() / name
