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
        # Go's scanner names the offending byte: %q escapes for control bytes, the rune of the
        # byte value for the first byte of anything beyond ASCII (audit-C D6).
        (b"\x01", "invalid character '\\x01' looking for beginning of value"),
        (b'{"a"\x00:1}', "invalid character '\\x00' after object key"),
        ("\u00e9".encode(), "invalid character '\u00c3' looking for beginning of value"),
        (b"\xef\xbb\xbf{}", "invalid character '\u00ef' looking for beginning of value"),
        (b"\xff", "invalid character '\u00ff' looking for beginning of value"),
        (b'{"workspace":true}\x80', "invalid character '\\u0080' after top-level value"),
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


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        (b"a\xffb", "a\ufffdb"),
        # One U+FFFD per invalid byte, as Go's decoder (audit-C D7), not per sequence.
        (b"a\xe2\x82b", "a\ufffd\ufffdb"),
        (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),
        (b"\xf0\x9f\x98", "\ufffd\ufffd\ufffd"),
        # Unpaired surrogate escapes too; a valid pair is one character.
        (b"\\ud800x\\udc00", "\ufffdx\ufffd"),
        (b"\\ud83d\\ude00", "\U0001f600"),
        ("\u00e9".encode(), "\u00e9"),
    ],
)
def test_invalid_text_becomes_one_replacement_character_per_byte(raw: bytes, decoded: str) -> None:
    evidence = decode_evidence(b'{"details":["' + raw + b'"],"digest":"d' + raw + b'"}')
    assert evidence.details == [decoded]
    assert evidence.digest == "d" + decoded
