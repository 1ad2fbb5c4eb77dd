# ruff: noqa: E501  (one usage case per line)
"""`managed-runtime` CLI: Go-flag parsing, messages, exit codes, and a real lifecycle."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import plugin_argv
from tests.operations.managed_fixtures import (
    BUNDLE_ID,
    SigningKey,
    bundle_objects,
    catalog_document,
    serve_objects,
    signing_key,
)
from wfcompute_container.cli.managed import run, usage_text

USAGE = """Usage of managed-runtime install:
  -bundle-id string
    \tmanaged runtime bundle id
  -catalog string
    \tmanaged runtime bundle catalog path
  -install-root string
    \tagent-managed install root
  -target-arch string
    \ttarget architecture
  -target-os string
    \ttarget operating system
"""


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run(list(args), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_usage_text() -> None:
    assert usage_text("install") == USAGE


@pytest.mark.parametrize(
    ("args", "status", "stderr"),
    [
        ((), 2, "usage: managed-runtime <install|doctor|uninstall|reinstall> [flags]\n"),
        (("other",), 2, "usage: managed-runtime <install|doctor|uninstall|reinstall> [flags]\n"),
        (("managed-runtime",), 2, "managed-runtime subcommand is required\n"),
        (("managed-runtime", "install", "-nope"), 2, "flag provided but not defined: -nope\n" + USAGE),
        (("managed-runtime", "install", "--catalog"), 2, "flag needs an argument: -catalog\n" + USAGE),
        (("managed-runtime", "install", "-h"), 2, USAGE),
        (("managed-runtime", "install", "--help"), 2, USAGE),
        (("managed-runtime", "install", "---x"), 2, "bad flag syntax: ---x\n" + USAGE),
        (
            ("managed-runtime", "install", "-catalog", "c", "-install-root", "r"),
            2,
            "--catalog, --install-root, and --bundle-id are required\n",
        ),
        (
            ("managed-runtime", "install", "-catalog=c", "--install-root=r", "--bundle-id", "b"),
            2,
            "--target-os and --target-arch are required\n",
        ),
        (
            # Parsing stops at the first non-flag argument.
            ("managed-runtime", "install", "-catalog", "c", "extra", "-install-root", "r"),
            2,
            "--catalog, --install-root, and --bundle-id are required\n",
        ),
        (
            ("managed-runtime", "install", "-catalog", "c", "--", "-install-root", "r"),
            2,
            "--catalog, --install-root, and --bundle-id are required\n",
        ),
    ],
)  # fmt: skip
def test_usage_errors(args: tuple[str, ...], status: int, stderr: str) -> None:
    assert cli(*args) == (status, "", stderr)


def test_catalog_errors_come_before_the_subcommand_check(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    args = ["-catalog", str(missing), "-install-root", str(tmp_path), "-bundle-id", "b"]
    assert cli(
        "managed-runtime", "bogus", *args, "-target-os", "linux", "-target-arch", "amd64"
    ) == (
        1,
        "",
        f"read managed runtime catalog: open {missing}: no such file or directory\n",
    )
    bad = tmp_path / "bad.json"
    bad.write_text("[1")
    status, _, err = cli("managed-runtime", "uninstall", "-catalog", str(bad), *args[2:])
    assert (status, err) == (1, "decode managed runtime catalog: unexpected end of JSON input\n")
    good = tmp_path / "good.json"
    good.write_text("{}")
    assert cli(
        "managed-runtime",
        "bogus",
        "-catalog",
        str(good),
        *args[2:],
        "-target-os",
        "l",
        "-target-arch",
        "a",
    ) == (
        2,
        "",
        'unknown managed-runtime subcommand "bogus"\n',
    )


def test_uninstall_needs_no_target_and_operation_errors_exit_1(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text("{}")
    root = tmp_path / "root"
    status, out, err = cli(
        "managed-runtime",
        "uninstall",
        "-catalog",
        str(good),
        "-install-root",
        str(root),
        "-bundle-id",
        "x",
    )
    assert (status, err) == (0, "")
    assert out == (
        f'{{"bundle_id":"x","root":"{root}/x","removed":false,"scoped_only":true,'
        f'"manifest_path":"{root}/x/wfcompute-managed-runtime-install.json"}}\n'
    )
    status, out, err = cli(
        "managed-runtime", "doctor", "-catalog", str(good), "-install-root", str(root),
        "-bundle-id", "x", "-target-os", "linux", "-target-arch", "amd64",
    )  # fmt: skip
    assert (status, out, err) == (1, "", 'managed runtime bundle "x" not found\n')


@pytest.fixture(scope="module")
def key() -> Iterator[SigningKey]:
    with signing_key("CLI Release <cli@example.com>") as generated:
        yield generated


def test_cli_lifecycle_through_the_plugin_binary(tmp_path: Path, key: SigningKey) -> None:
    objects = bundle_objects(key)
    root = tmp_path / "managed"
    with serve_objects(objects.served()) as server:
        catalog = tmp_path / "catalog.json"
        catalog.write_text(json.dumps(catalog_document(objects, server.url)))
        common = ["-catalog", str(catalog), "-install-root", str(root), "-bundle-id", BUNDLE_ID]
        target = ["--target-os=linux", "--target-arch", "amd64"]

        def binary(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                plugin_argv("managed-runtime", *args), capture_output=True, text=True, timeout=120
            )

        installed = binary("install", *common, *target)
        assert (installed.returncode, installed.stderr) == (0, "")
        result = json.loads(installed.stdout)
        assert result["command_path"] == f"{root}/{BUNDLE_ID}/bin/nerdctl"
        assert installed.stdout.endswith("}\n") and "\n" not in installed.stdout[:-1]

        clean = binary("doctor", *common, *target)
        assert (clean.returncode, clean.stderr) == (0, "")
        assert json.loads(clean.stdout)["status"] == "ok"

        (root / BUNDLE_ID / "bin/containerd").write_text("tampered")
        doctor = binary("doctor", *common, *target)
        assert doctor.returncode == 0
        assert json.loads(doctor.stdout)["status"] == "degraded"

        reinstalled = binary("reinstall", *common, *target)
        assert reinstalled.returncode == 0, reinstalled.stderr
        assert json.loads(reinstalled.stdout)["doctor"]["status"] == "ok"

        removed = binary("uninstall", *common)
        assert removed.returncode == 0, removed.stderr
        assert json.loads(removed.stdout)["removed"] is True
        assert json.loads(removed.stdout)["scoped_only"] is True
        assert not (root / BUNDLE_ID).exists()

        refused = binary("install", *common[:-1], "../x", *target)
        assert refused.returncode == 1
        assert refused.stderr == 'managed runtime bundle "../x" not found\n'
