"""Go `path/filepath` on POSIX: Clean, Join, Rel, Abs, IsAbs."""

from __future__ import annotations

import os

from .oserror import errno_text


class GetwdError(OSError):
    """os.Getwd failed (e.g. the working directory was deleted): Go's `getwd: <errno text>`."""

    def __init__(self, err: OSError) -> None:
        super().__init__(err.errno, err.strerror)
        self.message = f"getwd: {errno_text(err)}"

    def __str__(self) -> str:
        return self.message


class RelError(ValueError):
    """filepath.Rel could not express target relative to base."""


def clean(path: str) -> str:
    """Go filepath.Clean (lexical; unlike posixpath.normpath, `//x` becomes `/x`)."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    joined = "/".join(out)
    if rooted:
        return "/" + joined
    return joined or "."


def join(*elems: str) -> str:
    """Go filepath.Join: empty elements are ignored, the result is cleaned."""
    kept = [e for e in elems if e != ""]
    if not kept:
        return ""
    return clean("/".join(kept))


def is_abs(path: str) -> bool:
    return path.startswith("/")


def abs_path(path: str) -> str:
    """Go filepath.Abs: clean, relative to the working directory; links not resolved.

    Raises GetwdError (an OSError) when the working directory cannot be read.
    """
    if is_abs(path):
        return clean(path)
    try:
        cwd = os.getcwd()
    except OSError as err:
        raise GetwdError(err) from None
    return clean(cwd + "/" + path)


def rel(base: str, target: str) -> str:
    """Go filepath.Rel (lexical)."""
    base_c = clean(base)
    targ_c = clean(target)
    if targ_c == base_c:
        return "."
    if base_c == ".":
        base_c = ""
    base_abs = base_c.startswith("/")
    targ_abs = targ_c.startswith("/")
    if base_abs != targ_abs:
        raise RelError(f"Rel: can't make {target} relative to {base}")
    base_parts = [p for p in base_c.split("/") if p] if base_c else []
    targ_parts = [p for p in targ_c.split("/") if p]
    i = 0
    while i < len(base_parts) and i < len(targ_parts) and base_parts[i] == targ_parts[i]:
        i += 1
    rest_base = base_parts[i:]
    if ".." in rest_base:
        raise RelError(f"Rel: can't make {target} relative to {base}")
    ups = [".."] * len(rest_base)
    result = "/".join(ups + targ_parts[i:])
    return result or "."


def escapes(rel_path: str) -> bool:
    """True when a cleaned relative path climbs out of its base (`..` or `../...`)."""
    return rel_path == ".." or rel_path.startswith("../")
