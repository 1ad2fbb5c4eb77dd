"""The redaction module: every credential shape goes, ordinary tool text stays."""

from __future__ import annotations

import logging

import pytest

from wfcompute_container.operations.managed.signature import SignatureError
from wfcompute_container.operations.managed.sources import ObjectFetchError
from wfcompute_container.redaction import (
    REDACTED,
    contains_secret,
    redact_secrets,
    redact_tool_detail,
    redact_tool_text,
)
from wfcompute_container.rpc.logs import OneLineFormatter

GHP = "ghp_" + "A1b2C3d4" * 4 + "e5F6"  # 36 characters after the prefix
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQ2FuYXJ5\n"
    "-----END OPENSSH PRIVATE KEY-----"
)

# (text, secret that must go, what must remain)
POSITIVE = [
    ("fetch https://alice:s3cr3t-pw@registry.example/v2/ failed", "s3cr3t-pw", "registry.example"),
    ("fetch https://alice:s3cr3t-pw@registry.example/v2/ failed", "alice", "fetch https://"),
    ("Get https://u:p@ss-w0rd@host.example/x: refused", "ss-w0rd", "@host.example/x: refused"),
    ("clone https://x0-token-value@github.com/org/repo", "x0-token-value", "github.com/org/repo"),
    (f"clone https://{GHP}@github.com/o/r", GHP, "github.com/o/r"),
    ("API_KEY=abc123def rejected", "abc123def", "API_KEY=<redacted> rejected"),
    ("env GITHUB_TOKEN=t0k3nvalue set", "t0k3nvalue", "GITHUB_TOKEN=<redacted> set"),
    ("--password=hunter2 given", "hunter2", "--password=<redacted> given"),
    ("db_passwd: hunter3", "hunter3", "db_passwd: <redacted>"),
    ("PWD=/srv/app", "/srv/app", "PWD=<redacted>"),
    ("client_secret = s3cr3tv4l", "s3cr3tv4l", "client_secret = <redacted>"),
    ('{"password": "with spaces 1"}', "with spaces 1", '{"password": <redacted>}'),
    ("credentials='quoted v4lue'", "quoted v4lue", "credentials=<redacted>"),
    ("apikey=k3y1&x=1", "k3y1", "&x=1"),
    ("url?access_token=qs-t0ken&page=2", "qs-t0ken", "&page=2"),
    ("AWS_ACCESS_KEY_ID: AKIDVALUE1", "AKIDVALUE1", "AWS_ACCESS_KEY_ID: <redacted>"),
    ("private_key=pk-v4lue", "pk-v4lue", "private_key=<redacted>"),
    ("Cookie: sid=c00kie-v4l", "c00kie-v4l", "Cookie: <redacted>"),
    ("SESSION_ID=s3ss10n", "s3ss10n", "SESSION_ID=<redacted>"),
    ("Authorization: Bearer b34rer-t0k", "b34rer-t0k", "Authorization: Bearer <redacted>"),
    ("authorization=Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "authorization=Basic <redacted>"),
    ("Proxy-Authorization: Basic QWxhZGRpbjpvcGVu", "QWxhZGRpbjpvcGVu", "Proxy-Authorization"),
    ("sent Bearer eyx.b34rer-2 upstream", "eyx.b34rer-2", "sent Bearer <redacted> upstream"),
    ("header Basic QWxhZGRpbjpvcGVu sent", "QWxhZGRpbjpvcGVu", "header Basic <redacted> sent"),
    (f"key {GHP} here", GHP, "key <redacted> here"),
    ("gho_" + "z" * 36, "z" * 36, ""),
    ("ghu_" + "Y9" * 18, "Y9" * 18, ""),
    ("ghs_" + "x1" * 18 + " end", "x1" * 18, " end"),
    ("ghr_" + "Q" * 40, "Q" * 40, ""),
    ("github_pat_11ABCDEFG0abcdefghij_KLMNOPQRSTUVWXYZ", "11ABCDEFG0abcdefghij", ""),
    ("glpat-Abcdefghij0123456789", "Abcdefghij0123456789", ""),
    ("id AKIAIOSFODNN7EXAMPLE used", "IOSFODNN7EXAMPLE", "id <redacted> used"),
    ("id ASIAIOSFODNN7EXAMPL2 used", "IOSFODNN7EXAMPL2", "id <redacted> used"),
    ("slack xoxb-1234567890-abcdefXYZ", "1234567890-abcdef", "slack <redacted>"),
    ("slack xoxp-1234567890-abcdefXYZ", "1234567890-abcdef", "slack <redacted>"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl ok", "c2lnbmF0dXJl", " ok"),
    ("unsigned eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. ok", "eyJzdWIiOiIxIn0", " ok"),
    ("key sk-abcdefghijklmnopqrstu0123 rejected", "abcdefghijklmnop", " rejected"),
    ("key sk-proj-abcdefghijklmnopqrstu0123 rejected", "abcdefghijklmnop", " rejected"),
    (f"load {PEM} failed", "b3BlbnNzaC1rZXktdjEAAAAA", "load <redacted> failed"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEcut", "MIIEcut", ""),
    ("-----BEGIN PRIVATE KEY-----\nMIIEplain\n-----END PRIVATE KEY-----", "MIIEplain", ""),
]


@pytest.mark.parametrize(("text", "secret", "kept"), POSITIVE)
def test_credential_shapes_are_redacted(text: str, secret: str, kept: str) -> None:
    for redact in (redact_secrets, redact_tool_text):
        redacted = redact(text)
        assert secret not in redacted, redacted
        assert kept in redacted, redacted
        assert REDACTED in redacted
    assert contains_secret(text)
    assert secret not in redact_tool_detail(text)


NEGATIVE = [
    "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
    "image localhost/app@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
    "docker.io/library/alpine:3.20 pulled",
    "localhost/session-app:1 and registry.example/org/secret-tool:2",
    "--timeout=5 --memory=512m --network=none",
    "Error: statfs /tmp/ws/app: no such file or directory",
    "git@github.com:org/repo.git",
    "ssh user@host.example failed",
    "https://registry.example/v2/library/alpine/manifests/3",
    "Error response from daemon: unauthorized: authentication required",
    "basic authentication required",
    "Basic Authentication",
    "a disk-partition-1234567890abcdefghijklmn",
    "ghp_short tokens are not tokens",
    "AKIA1234 too short",
    "exit status 125",
    "signal: killed",
    "Error: initializing source docker://localhost/x:0: pinging registry",
    "",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_ordinary_text_survives(text: str) -> None:
    assert redact_secrets(text) == text
    assert redact_tool_text(text) == text
    assert not contains_secret(text)


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("dial unix:///run/docker.sock: refused", "dial <redacted> refused"),
        ("open /home/alice/.config/x: denied", "open <redacted> denied"),
        ("open /Users/bob/x: denied", "open <redacted> denied"),
        ("open C:\\Users\\bob\\x denied", "open <redacted> denied"),
        ("pipe npipe:////./pipe/docker_engine\tdown", "pipe <redacted>\tdown"),
        ("keep\nlines /home/a/b\nintact", "keep\nlines <redacted>\nintact"),
    ],
)
def test_tool_text_hides_sockets_and_home_directories(text: str, redacted: str) -> None:
    assert redact_tool_text(text) == redacted
    assert redact_secrets(text) == text  # only the tool-text form hides paths


def test_tool_detail_keeps_dropping_everything_after_a_credential_word() -> None:
    assert redact_tool_detail("Error: auth token=c1 rejected; Bearer c2") == "Error: <redacted>"
    # the shapes go even where no credential word comes first
    assert redact_tool_detail(f"Error: pull https://u:pw@r.example/x {GHP} refused") == (
        "Error: pull https://<redacted>@r.example/x <redacted> refused"
    )
    assert redact_tool_detail("dial unix:///run/docker.sock failed") == "dial <redacted> failed"
    assert redact_tool_detail("Cannot connect: is the daemon running?") == (
        "Cannot connect: is the daemon running?"
    )


def test_log_lines_are_redacted() -> None:
    record = logging.LogRecord(
        "wfcompute", logging.ERROR, __file__, 1, "tool said: %s", (f"x {GHP}\nAPI_KEY=k3y",), None
    )
    line = OneLineFormatter().format(record)
    assert GHP not in line and "k3y" not in line
    assert line.endswith("tool said: x <redacted>\\nAPI_KEY=<redacted>")


def test_managed_fetch_and_signature_errors_are_redacted() -> None:
    fetch = ObjectFetchError('Get "https://ci:pw-c4n4ry@mirror.example/b.tar": refused')
    assert "pw-c4n4ry" not in str(fetch) and "mirror.example/b.tar" in str(fetch)
    signature = SignatureError(f"managed runtime signature verification failed: {GHP}")
    assert GHP not in str(signature)
    assert str(signature).startswith("managed runtime signature verification failed: ")
