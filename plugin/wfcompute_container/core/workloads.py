"""Workload payloads carried in RuntimeExecutionRequest.input."""

from __future__ import annotations

from typing import ClassVar

from .rules import prefixed, scoped_ref_error, valid_sha256_digest
from .wire import OmitRule, ValidatedModel

ARTIFACT_SCHEME = "artifact://"


class EnvRef(ValidatedModel):
    """A named environment variable whose value is resolved from a config or secret ref."""

    __omit__: ClassVar[dict[str, OmitRule]] = {"value_ref": "empty", "secret_ref": "empty"}

    name: str = ""
    value_ref: str = ""
    secret_ref: str = ""

    def validation_errors(self) -> list[str]:
        errors: list[str] = []
        if self.name == "":
            errors.append("name is required")
        if self.value_ref == "" and self.secret_ref == "":
            errors.append("requires value_ref or secret_ref")
        if self.value_ref != "" and self.secret_ref != "":
            errors.append("cannot set both value_ref and secret_ref")
        return errors


def env_ref_errors(env: list[EnvRef] | None) -> list[str]:
    """`env[<i>]: <EnvRef error>` for each invalid entry, in order."""
    errors: list[str] = []
    for index, ref in enumerate(env or []):
        errors.extend(prefixed(f"env[{index}]", ref.validation_errors()))
    return errors


class ConfidentialPayloadRef(ValidatedModel):
    """An encrypted payload released by a key broker under a policy."""

    ciphertext_ref: str = ""
    ciphertext_hash: str = ""
    key_ref_hash: str = ""
    algorithm: str = ""
    kbs_policy_id: str = ""

    def validation_errors(self) -> list[str]:
        errors: list[str] = []
        ref_error = scoped_ref_error("ciphertext_ref", self.ciphertext_ref, ARTIFACT_SCHEME)
        if ref_error is not None:
            errors.append(ref_error)
        if not valid_sha256_digest(self.ciphertext_hash):
            errors.append("ciphertext_hash must be sha256:<64 hex chars>")
        if not valid_sha256_digest(self.key_ref_hash):
            errors.append("key_ref_hash must be sha256:<64 hex chars>")
        if self.algorithm == "":
            errors.append("algorithm is required")
        if self.kbs_policy_id == "":
            errors.append("kbs_policy_id is required")
        return errors


class CommandWorkload(ValidatedModel):
    """Payload of a `command` run: argv, working directory, env refs, artifacts to hash."""

    __omit__: ClassVar[dict[str, OmitRule]] = {
        "working_directory": "empty",
        "env": "empty",
        "artifact_refs": "empty",
        "artifact_allowlist": "empty",
        "confidential_payload": "empty",
    }

    args: list[str] | None = None
    working_directory: str = ""
    env: list[EnvRef] | None = None
    artifact_refs: list[str] | None = None
    artifact_allowlist: list[str] | None = None
    confidential_payload: ConfidentialPayloadRef | None = None

    def validation_errors(self) -> list[str]:
        errors: list[str] = []
        if not self.args:
            errors.append("command args are required")
        errors.extend(env_ref_errors(self.env))
        for index, ref in enumerate(self.artifact_refs or []):
            ref_error = scoped_ref_error(f"artifact_refs[{index}]", ref, ARTIFACT_SCHEME)
            if ref_error is not None:
                errors.append(ref_error)
        if self.confidential_payload is not None:
            errors.extend(
                prefixed("confidential_payload", self.confidential_payload.validation_errors())
            )
        return errors


class ContainerBuildWorkload(ValidatedModel):
    """Payload of a `container-build` run: build context, Dockerfile, tags, env refs."""

    __omit__: ClassVar[dict[str, OmitRule]] = {
        "dockerfile": "empty",
        "tags": "empty",
        "push_target_ref": "empty",
        "pull_target_ref": "empty",
        "env": "empty",
    }

    context_directory: str = ""
    dockerfile: str = ""
    tags: list[str] | None = None
    push_target_ref: str = ""
    pull_target_ref: str = ""
    env: list[EnvRef] | None = None

    def validation_errors(self) -> list[str]:
        errors: list[str] = []
        if self.context_directory == "":
            errors.append("context_directory is required")
        if not self.tags:
            errors.append("tags is required")
        errors.extend(env_ref_errors(self.env))
        return errors
