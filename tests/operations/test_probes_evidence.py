"""Evidence JSON decoding with Go's json.Unmarshal rules and error texts."""

from __future__ import annotations

import pytest

from wfcompute_container.core.backends import RuntimeBackendEvidence
from wfcompute_container.operations.probe_evidence import EvidenceDecodeError, decode_evidence


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        (b"", "unexpected end of JSON input"),
        (b" \t\n", "unexpected end of JSON input"),
        (b"x", "invalid character 'x' looking for beginning of value"),
        (b"garbage{", "invalid character 'g' looking for beginning of value"),
        (b'{"workspace":trux', "invalid character 'x' in literal true (expecting 'e')"),
        (b'{"workspace":tru', "unexpected end of JSON input"),
        (b"nul", "unexpected end of JSON input"),
        (b'{"workspace":true', "unexpected end of JSON input"),
        (b'{"workspace":true}}', "invalid character '}' after top-level value"),
        (b'{"workspace" true}', "invalid character 't' after object key"),
        (b'{"workspace":true "x":1}', "invalid character '\"' after object key:value pair"),
        (
            b"{'workspace':true}",
            "invalid character '\\'' looking for beginning of object key string",
        ),
        (b'{"details":["a" "b"]}', "invalid character '\"' after array element"),
        (b"NaN", "invalid character 'N' looking for beginning of value"),
        (
            b'"text"',
            "json: cannot unmarshal string into Go value of type protocol.RuntimeBackendEvidence",
        ),
        (
            b"true",
            "json: cannot unmarshal bool into Go value of type protocol.RuntimeBackendEvidence",
        ),
        (
            b'{"proof":1}',
            "json: cannot unmarshal number into Go struct field "
            "RuntimeBackendEvidence.proof of type bool",
        ),
        (
            b'{"digest":{}}',
            "json: cannot unmarshal object into Go struct field "
            "RuntimeBackendEvidence.digest of type string",
        ),
        (
            b'{"details":"one"}',
            "json: cannot unmarshal string into Go struct field "
            "RuntimeBackendEvidence.details of type []string",
        ),
        (
            b'{"details":["ok",2]}',
            "json: cannot unmarshal number into Go struct field "
            "RuntimeBackendEvidence.details of type string",
        ),
    ],
)
def test_go_error_texts(stdout: bytes, message: str) -> None:
    with pytest.raises(EvidenceDecodeError) as caught:
        decode_evidence(stdout)
    assert str(caught.value) == message


def test_keys_fold_case_unknown_ignored_last_duplicate_wins() -> None:
    decoded = decode_evidence(
        b'\n {"Workspace":true,"NETWORK":true,"network":false,"Env":true,"proof":true,'
        b'"cleanup":false,"cleanup":true,"unknown":[{"x":null}],"DETAILS":["a"],'
        b'"digest":"sha256:x"} \n'
    )
    assert decoded == RuntimeBackendEvidence(
        digest="sha256:x",
        workspace=True,
        network=False,
        env=True,
        proof=True,
        cleanup=True,
        details=["a"],
    )


def test_exact_key_preferred_over_folded_key_regardless_of_order() -> None:
    # Go assigns each key in document order; both spellings name the same field.
    assert decode_evidence(b'{"env":true,"ENV":false}').env is False
    assert decode_evidence(b'{"ENV":false,"env":true}').env is True


def test_nulls_leave_zero_values() -> None:
    assert decode_evidence(b"null") == RuntimeBackendEvidence()
    decoded = decode_evidence(b'{"workspace":true,"workspace":null,"details":null}')
    assert decoded.workspace is True
    assert decoded.details is None


def test_invalid_utf8_becomes_replacement_character() -> None:
    assert decode_evidence(b'{"details":["a\xffb"]}').details == ["a\ufffdb"]
