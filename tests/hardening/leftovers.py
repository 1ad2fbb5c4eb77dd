"""What a test's runs may have left behind: containers (by workspace) and env files.

Other test sessions may run containers on the same machine at the same time, so a container
is attributed to a test by the host side of its bind mounts (under the test's temp dir),
not by its name alone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from wfcompute_container.operations.sandbox import CONTAINER_NAME_PREFIX
from wfcompute_container.operations.sandbox_env_file import ENV_FILE_PREFIX


def containers_under(tool: str, root: Path) -> list[str]:
    """Containers (any state) named like a run whose bind mounts come from under ``root``."""
    listing = subprocess.run(
        [tool, "ps", "-a", "--filter", "name=wfcompute", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    names = [
        line.strip().lstrip("/")
        for line in listing.stdout.splitlines()
        if line.strip().lstrip("/").startswith(CONTAINER_NAME_PREFIX)
    ]
    found: list[str] = []
    for name in names:
        inspect = subprocess.run(
            [tool, "inspect", "--format", "{{range .Mounts}}{{.Source}}\n{{end}}", name],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if inspect.returncode != 0:
            continue  # removed in the meantime
        sources = [line.strip() for line in inspect.stdout.splitlines() if line.strip()]
        if any(source == str(root) or source.startswith(f"{root}/") for source in sources):
            found.append(name)
    return found


def env_files_under(directory: Path) -> list[Path]:
    """Env files (and their private directories) left in a temp dir."""
    return sorted(
        path
        for path in directory.rglob("*")
        if path.name.startswith(ENV_FILE_PREFIX) or path.name.startswith("wfcompute-sandbox-")
    )
