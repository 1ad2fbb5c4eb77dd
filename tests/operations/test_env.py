"""Env refs to runtime env (as in the Go plugin)."""

from __future__ import annotations

import pytest

from wfcompute_container.core.workloads import EnvRef
from wfcompute_container.errors import InvalidInput
from wfcompute_container.operations.env import command_runtime_env, container_build_env


def _ref(name: str, value_ref: str = "", secret_ref: str = "") -> EnvRef:
    return EnvRef(name=name, value_ref=value_ref, secret_ref=secret_ref)


class TestCommandRuntimeEnv:
    def test_resolves_in_order_and_allows_empty_values(self) -> None:
        env = command_runtime_env(
            [_ref("TOKEN", secret_ref="secret:t"), _ref("MODE", value_ref="config:m")],
            {"secret:t": "s3cret", "config:m": ""},
        )
        assert env == {"TOKEN": "s3cret", "MODE": ""}
        assert list(env) == ["TOKEN", "MODE"]

    def test_no_refs_gives_an_empty_map(self) -> None:
        assert command_runtime_env(None, {}) == {}
        assert command_runtime_env([], {"x": "y"}) == {}

    def test_value_ref_preferred_unless_blank(self) -> None:
        resolved = {"v": "from-value", "s": "from-secret"}
        assert command_runtime_env([_ref("A", "v", "s")], resolved) == {"A": "from-value"}
        assert command_runtime_env([_ref("A", "  ", "s")], resolved) == {"A": "from-secret"}

    def test_duplicate_name(self) -> None:
        with pytest.raises(InvalidInput) as exc:
            command_runtime_env([_ref("TOKEN", "a"), _ref("TOKEN", "b")], {"a": "1", "b": "2"})
        assert exc.value.message == "env TOKEN is declared more than once"

    def test_missing_resolved_ref_does_not_leak_values(self) -> None:
        with pytest.raises(InvalidInput) as exc:
            command_runtime_env([_ref("A", "a"), _ref("TOKEN", secret_ref="s")], {"a": "VALUE"})
        assert exc.value.message == "env TOKEN missing resolved ref"
        assert "VALUE" not in exc.value.message

    def test_neither_ref_looks_up_the_empty_key(self) -> None:
        with pytest.raises(InvalidInput) as exc:
            command_runtime_env([_ref("A")], {})
        assert exc.value.message == "env A missing resolved ref"
        assert command_runtime_env([_ref("A")], {"": "x"}) == {"A": "x"}


class TestContainerBuildEnv:
    def test_no_refs_gives_none(self) -> None:
        assert container_build_env(None, {}) is None
        assert container_build_env([], {}) is None

    def test_resolves(self) -> None:
        assert container_build_env(
            [_ref("GOPRIVATE", "config:goprivate")], {"config:goprivate": "example.com/*"}
        ) == {"GOPRIVATE": "example.com/*"}

    def test_reserved_prefix_checked_first(self) -> None:
        with pytest.raises(InvalidInput) as exc:
            container_build_env([_ref("WORKFLOW_COMPUTE_BUILD_DIGEST_FILE", "x")], {})
        assert exc.value.message == (
            'reserved workflow-compute build env "WORKFLOW_COMPUTE_BUILD_DIGEST_FILE"'
        )

    def test_duplicate_then_missing(self) -> None:
        with pytest.raises(InvalidInput) as exc:
            container_build_env([_ref("A", "a"), _ref("A", "a")], {"a": "1"})
        assert exc.value.message == "env A is declared more than once"
        with pytest.raises(InvalidInput) as exc:
            container_build_env([_ref("A", "a")], {})
        assert exc.value.message == "env A missing resolved ref"
