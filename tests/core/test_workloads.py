"""EnvRef, ConfidentialPayloadRef, CommandWorkload, ContainerBuildWorkload."""

from __future__ import annotations

import pytest

from wfcompute_container.core.workloads import (
    CommandWorkload,
    ConfidentialPayloadRef,
    ContainerBuildWorkload,
    EnvRef,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (EnvRef(name="A", value_ref="config:goprivate"), None),
        (EnvRef(name="A", secret_ref="secret://pool-1/ghcr-docker-config"), None),
        (EnvRef(value_ref="x"), "name is required"),
        # Name is not trimmed and has no charset rule.
        (EnvRef(name=" ", value_ref="x"), None),
        (EnvRef(name="A"), "requires value_ref or secret_ref"),
        (
            EnvRef(name="A", value_ref="x", secret_ref="y"),
            "cannot set both value_ref and secret_ref",
        ),
        (EnvRef(), "name is required\nrequires value_ref or secret_ref"),
        (
            EnvRef(value_ref="x", secret_ref="y"),
            "name is required\ncannot set both value_ref and secret_ref",
        ),
    ],
)
def test_env_ref(ref: EnvRef, expected: str | None) -> None:
    assert ref.validation_error() == expected


def test_env_ref_json() -> None:
    assert EnvRef(name="A").to_json() == '{"name":"A"}'
    assert EnvRef(name="A", secret_ref="s").to_json() == '{"name":"A","secret_ref":"s"}'


def test_confidential_payload() -> None:
    good = ConfidentialPayloadRef(
        ciphertext_ref="artifact://pool/blob",
        ciphertext_hash=DIGEST,
        key_ref_hash=DIGEST,
        algorithm="aes-256-gcm",
        kbs_policy_id="policy-1",
    )
    assert good.validation_error() is None
    assert ConfidentialPayloadRef().validation_errors() == [
        "ciphertext_ref must use artifact:// scoped ref",
        "ciphertext_hash must be sha256:<64 hex chars>",
        "key_ref_hash must be sha256:<64 hex chars>",
        "algorithm is required",
        "kbs_policy_id is required",
    ]
    # Lowercase hex only for these hashes.
    upper = good.model_copy(update={"ciphertext_hash": DIGEST.upper().replace("SHA", "sha")})
    assert upper.validation_errors() == ["ciphertext_hash must be sha256:<64 hex chars>"]
    # Never omitted.
    assert ConfidentialPayloadRef().to_json() == (
        '{"ciphertext_ref":"","ciphertext_hash":"","key_ref_hash":"","algorithm":"",'
        '"kbs_policy_id":""}'
    )


def test_command_workload_json() -> None:
    # The reference's input payload example (env set to nil before marshalling).
    workload = CommandWorkload(
        args=["sh", "-c", "printf ok > out.txt"],
        working_directory="work",
        artifact_allowlist=["out.txt"],
    )
    assert workload.to_json() == (
        '{"args":["sh","-c","printf ok \\u003e out.txt"],"working_directory":"work",'
        '"artifact_allowlist":["out.txt"]}'
    )
    assert CommandWorkload().to_json() == '{"args":null}'
    assert CommandWorkload(args=[]).to_json() == '{"args":[]}'
    full = CommandWorkload.model_validate(
        {
            "args": ["true"],
            "env": [{"name": "A", "value_ref": "config:a"}],
            "artifact_refs": ["artifact://x"],
            "confidential_payload": {"ciphertext_ref": "artifact://c"},
        }
    )
    assert full.to_json() == (
        '{"args":["true"],"env":[{"name":"A","value_ref":"config:a"}],'
        '"artifact_refs":["artifact://x"],"confidential_payload":{"ciphertext_ref":"artifact://c",'
        '"ciphertext_hash":"","key_ref_hash":"","algorithm":"","kbs_policy_id":""}}'
    )


def test_command_workload_validation_order() -> None:
    workload = CommandWorkload.model_validate(
        {
            "env": [
                {"name": "OK", "value_ref": "v"},
                {},
                {"name": "B", "value_ref": "x", "secret_ref": "y"},
            ],
            "artifact_refs": ["artifact://ok", "file://x", "artifact://../x", "artifact://"],
            "confidential_payload": {
                "ciphertext_ref": "artifact://c",
                "ciphertext_hash": DIGEST,
                "key_ref_hash": DIGEST,
                "algorithm": "",
                "kbs_policy_id": "",
            },
        }
    )
    assert workload.validation_errors() == [
        "command args are required",
        "env[1]: name is required\nrequires value_ref or secret_ref",
        "env[2]: cannot set both value_ref and secret_ref",
        "artifact_refs[1] must use artifact:// scoped ref",
        "artifact_refs[2] must not contain parent traversal",
        "artifact_refs[3] must include scoped path",
        "confidential_payload: algorithm is required\nkbs_policy_id is required",
    ]
    assert CommandWorkload(args=[""]).validation_error() is None


def test_container_build_workload() -> None:
    assert ContainerBuildWorkload().to_json() == '{"context_directory":""}'
    assert ContainerBuildWorkload().validation_errors() == [
        "context_directory is required",
        "tags is required",
    ]
    workload = ContainerBuildWorkload.model_validate(
        {
            "context_directory": ".",
            "dockerfile": "Dockerfile",
            "tags": ["example/app:dev"],
            "push_target_ref": "registry://x",
            "pull_target_ref": "registry://y",
            "env": [{"name": "", "value_ref": "v"}],
        }
    )
    assert workload.validation_errors() == ["env[0]: name is required"]
    assert workload.to_json() == (
        '{"context_directory":".","dockerfile":"Dockerfile","tags":["example/app:dev"],'
        '"push_target_ref":"registry://x","pull_target_ref":"registry://y",'
        '"env":[{"name":"","value_ref":"v"}]}'
    )
    assert ContainerBuildWorkload(context_directory=" ", tags=[""]).validation_error() is None
