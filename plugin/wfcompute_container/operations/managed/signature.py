"""Detached OpenPGP signature check with GnuPG's `gpgv` against one pinned public key.

Each check runs in a private, temporary GNUPGHOME: the trust root is de-armored into a keyring
there, `gpgv` verifies the signature against that keyring only, and its machine-readable status
lines (`--status-fd`) name the signer. No user keyring or agent is involved.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import anyio.to_thread

from ...redaction import redact_secrets

ARMORED_KEY_HEADER = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
ARMORED_SIGNATURE_HEADER = b"-----BEGIN PGP SIGNATURE-----"
_GNUPG_TIMEOUT_SECONDS = 60.0
_FAILURE_STATUSES = ("BADSIG", "ERRSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG", "NO_PUBKEY")


class SignatureError(Exception):
    """Verification failed; the text is the reference's message for that step.

    It may quote GnuPG's last stderr line, so the text is redacted on construction.
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact_secrets(message))


@dataclass(frozen=True)
class VerifiedSignature:
    primary_key_id: str
    """16 uppercase hex digits: the low 64 bits of the signer's primary key fingerprint."""
    primary_fingerprint: str


async def verify_detached_signature(
    trust_root: bytes, signature: bytes, signed_data: bytes
) -> VerifiedSignature:
    return await anyio.to_thread.run_sync(_verify_blocking, trust_root, signature, signed_data)


def _gnupg_tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else "")
    if not found:
        raise SignatureError(
            f"managed runtime signature verification failed: {name} (GnuPG) is not installed"
        )
    return found


def _verify_blocking(trust_root: bytes, signature: bytes, signed_data: bytes) -> VerifiedSignature:
    if ARMORED_KEY_HEADER not in trust_root:
        raise SignatureError(
            "managed runtime signature verification trust root: "
            "no armored OpenPGP public key block found"
        )
    with tempfile.TemporaryDirectory(prefix="wfcompute-gpg-") as home:
        os.chmod(home, 0o700)
        key_path = os.path.join(home, "trust-root.asc")
        keyring = os.path.join(home, "trust-root.gpg")
        sig_path = os.path.join(home, "signature.asc")
        data_path = os.path.join(home, "signed-data")
        _write(key_path, trust_root)
        _write(sig_path, signature)
        _write(data_path, signed_data)
        env = _gnupg_env(home)
        dearmor = _run(
            [
                _gnupg_tool("gpg"),
                "--homedir",
                home,
                "--batch",
                "--no-tty",
                "--quiet",
                "--dearmor",
                "--output",
                keyring,
                key_path,
            ],
            env,
        )
        if dearmor.returncode != 0 or not os.path.exists(keyring):
            raise SignatureError(
                "managed runtime signature verification trust root: "
                + _last_line(dearmor.stderr, "cannot read armored public key")
            )
        if ARMORED_SIGNATURE_HEADER not in signature:
            raise SignatureError(
                "managed runtime signature verification failed: no armored OpenPGP signature found"
            )
        verify = _run(
            [
                _gnupg_tool("gpgv"),
                "--homedir",
                home,
                "--status-fd",
                "1",
                "--keyring",
                keyring,
                sig_path,
                data_path,
            ],
            env,
        )
    return _signer_from_status(verify)


def _signer_from_status(verify: subprocess.CompletedProcess[bytes]) -> VerifiedSignature:
    statuses = [
        line[len(b"[GNUPG:] ") :].decode("utf-8", "replace").split()
        for line in verify.stdout.splitlines()
        if line.startswith(b"[GNUPG:] ")
    ]
    statuses = [s for s in statuses if s]
    failure = next((s for s in statuses if s[0] in _FAILURE_STATUSES), None)
    if failure is not None or verify.returncode != 0:
        reason = _status_reason(failure) if failure else _last_line(verify.stderr, "gpgv failed")
        raise SignatureError(f"managed runtime signature verification failed: {reason}")
    good = [s for s in statuses if s[0] == "GOODSIG"]
    valid = [s for s in statuses if s[0] == "VALIDSIG"]
    # Several signatures in one file would make "the signer" ambiguous.
    if len(good) != 1 or len(valid) != 1 or len(valid[0]) < 2:
        raise SignatureError("managed runtime signature verification did not identify a signer")
    fields = valid[0]
    # VALIDSIG <fpr> <date> <ts> <expire> <ver> <reserved> <algo> <hash> <class> <primary fpr>
    primary = fields[10] if len(fields) > 10 else fields[1]
    return VerifiedSignature(primary_key_id=primary[-16:].upper(), primary_fingerprint=primary)


def _status_reason(status: list[str]) -> str:
    texts = {
        "BADSIG": "invalid signature",
        "ERRSIG": "signature could not be checked (unknown key or unsupported algorithm)",
        "EXPSIG": "signature has expired",
        "EXPKEYSIG": "signing key has expired",
        "REVKEYSIG": "signing key has been revoked",
        "NO_PUBKEY": "signature made by a key not in the trust root",
    }
    key = f" (key {status[1]})" if len(status) > 1 else ""
    return texts.get(status[0], status[0]) + key


def _gnupg_env(home: str) -> dict[str, str]:
    env = {"GNUPGHOME": home, "LC_ALL": "C", "LANG": "C"}
    if "PATH" in os.environ:
        env["PATH"] = os.environ["PATH"]
    return env


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_GNUPG_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise SignatureError(f"managed runtime signature verification failed: {err}") from err


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _last_line(stderr: bytes, fallback: str) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    if not lines:
        return fallback
    text = lines[-1]
    for prefix in ("gpg: ", "gpgv: "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text
