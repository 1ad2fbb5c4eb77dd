"""Image references and other values that land in a container tool's argv as arguments.

A tenant chooses the image name. The tools read any argument that starts with `-` as an
option, so `--volume=/etc:/x` in the image's place mounts the host's /etc and `--privileged`
drops every guard. Every image therefore has to be an OCI image reference by the
distribution grammar before any argv is built:

    reference := name [ ":" tag ] [ "@" digest ]
    name      := [ domain "/" ] path-component { "/" path-component }
    domain    := host [ ":" port ]       (a host is DNS labels joined by ".", or "localhost")
    path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest    := algorithm ":" hex (at least 32 hex digits)

The first component is a domain only when it contains `.` or `:` or is `localhost`, as the
tools decide. Refusals name the field and the rule, never the value.
"""

from __future__ import annotations

import re

from ..errors import InvalidInput

MAX_NAME_LENGTH = 255

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_DOMAIN_LABEL = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*(?::[0-9]+)?)"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_REFERENCE = re.compile(
    rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_BARE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def image_reference_problem(value: str) -> str | None:
    """Why ``value`` is not an OCI image reference, or None when it is one."""
    if value == "":
        return "it is empty"
    if value.startswith("-"):
        return 'it starts with "-"'
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return "it contains whitespace or a control character"
    match = _REFERENCE.fullmatch(value)
    if match is None:
        return "it does not follow the image reference grammar"
    domain = match.group("domain")
    if domain is not None and not _is_domain(domain):
        # `a/b` parses with `a` as a domain; the tools read it as a path on docker.io.
        path = match.group("name")
        if not re.fullmatch(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", path):
            return "it does not follow the image reference grammar"
    if len(match.group("name")) > MAX_NAME_LENGTH:
        return f"its name is longer than {MAX_NAME_LENGTH} characters"
    digest = match.group("digest")
    if digest is not None and digest.startswith("sha256:") and not _SHA256.fullmatch(digest):
        return "its sha256 digest is not 64 lower-case hex digits"
    return None


def _is_domain(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def validate_image(value: str, field: str = "image") -> str:
    """``value`` when it is an OCI image reference; else InvalidInput naming ``field``."""
    problem = image_reference_problem(value)
    if problem is not None:
        raise InvalidInput(f"{field} is not a valid OCI image reference: {problem}")
    return value


def validate_bare_name(value: str, field: str) -> str:
    """A runtime name the tool looks up by name: never a path, never an option."""
    if not _BARE_NAME.fullmatch(value):
        raise InvalidInput(
            f"{field} must be a bare name (letters, digits, '_', '.', '-'; not starting with"
            " '-' or '.'; at most 64 characters), not a path or an option"
        )
    return value


def refuse_nul(value: str, field: str) -> None:
    """Refuse a NUL byte: no argv element or path may carry one."""
    if "\x00" in value:
        raise InvalidInput(f"{field} contains a NUL byte")
