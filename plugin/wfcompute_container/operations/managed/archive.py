"""Safe extraction of a bundle's tar.gz into a private stage directory.

Every entry is checked before anything is written: no absolute or `..` names, no duplicates,
nothing under an extracted symlink, symlink targets that stay inside the stage, and only
directories, regular files and symlinks. Writes go through directory file descriptors opened
with O_NOFOLLOW, so no path component is ever followed through a link.

The stream is read the way Go's compress/gzip and archive/tar read it (Python's tarfile
rewrites names, hides PAX global headers and ends quietly on some damage), so entry names
are the raw header names and stream errors carry Go's texts (`EOF`, `unexpected EOF`,
`archive/tar: invalid tar header`, ...).

A small archive can expand without bound (a 3 MB gzip to 3.2 GB was tried): extraction stops
with a refusal past ``MAX_EXTRACTED_BYTES`` or ``MAX_ENTRIES``, and at the next chunk when the
caller's stop event is set (a cancel, a shutdown).
"""

from __future__ import annotations

import errno
import os
import re
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import IO

from ...goparity.oserror import errno_text
from ...goparity.paths import clean, escapes
from ...goparity.text import quote, trim_space

_DIR_OPEN_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


MANIFEST_NAME = "wfcompute-managed-runtime-install.json"
"""The install manifest's name at the top of a bundle root: no archive entry may take it."""


class ArchiveError(Exception):
    """The archive is unsafe or unreadable; the text is the reference's message."""


def unsafe_path(name: str) -> ArchiveError:
    return ArchiveError(f"unsafe archive path {quote(name)}")


def check_entry_name(name: str) -> str:
    """The cleaned, stage-relative name of an archive entry, or ArchiveError."""
    if trim_space(name) == "" or "\\" in name or name.startswith("/"):
        raise unsafe_path(name)
    cleaned = clean(name)
    if cleaned in (".", "..") or escapes(cleaned) or not _valid_fs_path(cleaned):
        raise unsafe_path(name)
    if cleaned == MANIFEST_NAME:
        raise ArchiveError(f"archive entry {quote(name)} uses the reserved install manifest name")
    return cleaned


def check_symlink_target(entry: str, target: str) -> str:
    """The cleaned symlink target when it stays inside the stage, else ArchiveError."""
    error = ArchiveError(f"unsafe archive symlink target {quote(target)}")
    if trim_space(target) == "" or "\\" in target or target.startswith("/"):
        raise error
    cleaned = clean(target)
    if cleaned == ".":
        raise error
    resolved = clean(_dir(entry) + "/" + target)
    if resolved in (".", "..") or escapes(resolved):
        raise error
    return cleaned


MAX_EXTRACTED_BYTES = 2 * 1024 * 1024 * 1024
"""Total bytes an archive may expand to (a full nerdctl bundle is about 250 MB)."""
MAX_ENTRIES = 20_000
"""Entries an archive may hold (a full nerdctl bundle has a few hundred)."""


class ExtractionStopped(Exception):
    """The operation was cancelled or the plugin is stopping: extraction ended early."""


@dataclass
class ExtractLimits:
    max_bytes: int = MAX_EXTRACTED_BYTES
    max_entries: int = MAX_ENTRIES
    stop: threading.Event | None = None
    """Set from another thread to end the extraction at the next chunk."""


@dataclass
class _Progress:
    limits: ExtractLimits
    written: int = 0
    entries: int = 0

    def check_stop(self) -> None:
        if self.limits.stop is not None and self.limits.stop.is_set():
            raise ExtractionStopped

    def entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise ArchiveError(
                f"managed runtime archive has more than {self.limits.max_entries} entries"
            )

    def wrote(self, size: int) -> None:
        self.written += size
        if self.written > self.limits.max_bytes:
            raise ArchiveError(
                f"managed runtime archive expands beyond {self.limits.max_bytes} bytes"
            )


def extract_tar_gz(archive: IO[bytes], stage_fd: int, limits: ExtractLimits | None = None) -> None:
    """Extract a gzip-compressed tar stream into the open, empty directory `stage_fd`,
    within the limits (bytes, entries) and until `limits.stop` is set."""
    progress = _Progress(limits or ExtractLimits())
    seen: set[str] = set()
    symlinks: set[str] = set()
    reader = _TarReader(_GzipReader(archive))
    try:
        while (header := reader.next()) is not None:
            progress.check_stop()
            progress.entry()
            _extract_entry(reader, header, stage_fd, seen, symlinks, progress)
    except OSError as err:
        where = f"openat {err.filename}: " if err.filename else ""
        raise ArchiveError(where + errno_text(err)) from err


def _extract_entry(
    reader: _TarReader,
    header: _Header,
    stage_fd: int,
    seen: set[str],
    symlinks: set[str],
    progress: _Progress,
) -> None:
    raw = header.name
    cleaned = check_entry_name(raw)
    if cleaned in seen:
        raise ArchiveError(f"duplicate archive entry {quote(raw)}")
    if any(ancestor in symlinks for ancestor in _ancestors(cleaned)):
        raise ArchiveError(f"unsafe archive path {quote(raw)} is under symlink")
    perm = header.mode & 0o777
    parts = cleaned.split("/")
    if header.typeflag == _TYPE_DIR:
        with _open_dir(stage_fd, parts, create=True, mode=perm | 0o700):
            pass
    elif header.typeflag == _TYPE_REG:
        with _open_dir(stage_fd, parts[:-1], create=True, mode=0o700) as parent:
            _write_file(reader, parent, parts[-1], perm or 0o600, progress)
    elif header.typeflag == _TYPE_SYMLINK:
        target = check_symlink_target(cleaned, header.linkname)
        with _open_dir(stage_fd, parts[:-1], create=True, mode=0o700) as parent:
            os.symlink(target, parts[-1], dir_fd=parent)
        symlinks.add(cleaned)
    else:
        raise ArchiveError(f"unsafe archive entry type {header.typeflag} for {quote(raw)}")
    seen.add(cleaned)


def _write_file(
    reader: _TarReader, parent_fd: int, name: str, mode: int, progress: _Progress
) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, mode, dir_fd=parent_fd)
    with os.fdopen(fd, "wb") as out:
        while chunk := reader.read(_CHUNK):
            progress.check_stop()
            progress.wrote(len(chunk))
            out.write(chunk)


# --- the stream, read as Go reads it ---------------------------------------------------------

_CHUNK = 256 * 1024
_EOF = "EOF"
_UNEXPECTED_EOF = "unexpected EOF"
_GZIP_BAD_HEADER = "gzip: invalid header"
_GZIP_BAD_CHECKSUM = "gzip: invalid checksum"
_TAR_BAD_HEADER = "archive/tar: invalid tar header"
_TAR_FIELD_TOO_LONG = "archive/tar: header field too long"

_BLOCK = 512
_ZERO_BLOCK = bytes(_BLOCK)
_MAX_SPECIAL_FILE = 1 << 20
_TYPE_REGA = 0
_TYPE_REG = ord("0")
_TYPE_SYMLINK = ord("2")
_TYPE_DIR = ord("5")
_TYPE_PAX = ord("x")
_TYPE_PAX_GLOBAL = ord("g")
_TYPE_GNU_LONG_NAME = ord("L")
_TYPE_GNU_LONG_LINK = ord("K")
# Types whose size field does not announce data blocks (Go's isHeaderOnlyType).
_HEADER_ONLY_TYPES = frozenset(ord(t) for t in "123456")
_PAX_INT = re.compile(r"[+-]?[0-9]+")
_PAX_FRACTION = re.compile(r"[0-9]*")
_INT64_MAX = (1 << 63) - 1


class _GzipReader:
    """Go's gzip.Reader: concatenated members, Go's error texts. An error surfaces once the
    data decoded before it has been read, as Go's Read reports it after that data."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self._input = b""
        self._output = b""
        self._position = 0
        self._inflater: zlib._Decompress | None = None
        self._crc = 0
        self._size = 0
        self._error: str | None = None
        self._done = False
        # gzip.NewReader reads the first member header at once: empty input is io.EOF.
        if not self._member_header():
            raise ArchiveError(_EOF)

    def read(self, size: int) -> bytes:
        """Up to `size` decoded bytes; b"" at a clean end of the stream."""
        while True:
            if self._position < len(self._output):
                chunk = self._output[self._position : self._position + size]
                self._position += len(chunk)
                return chunk
            if self._error is not None:
                raise ArchiveError(self._error)
            if self._done:
                return b""
            try:
                self._advance()
            except ArchiveError as err:
                self._error = str(err)

    def _advance(self) -> None:
        if self._inflater is None:
            if not self._member_header():
                self._done = True
            return
        inflater = self._inflater
        data = inflater.unconsumed_tail or self._input or self._source.read(_CHUNK)
        self._input = b""
        try:
            output = inflater.decompress(data, _CHUNK)
        except zlib.error as err:
            raise ArchiveError("flate: corrupt input") from err
        self._crc = zlib.crc32(output, self._crc)
        self._size += len(output)
        self._output, self._position = output, 0
        if inflater.eof:
            self._input = inflater.unused_data
            self._inflater = None
            self._check_trailer()
        elif not data and not output:
            raise ArchiveError(_UNEXPECTED_EOF)

    def _check_trailer(self) -> None:
        trailer = self._take(8)
        if len(trailer) < 8:
            raise ArchiveError(_UNEXPECTED_EOF)
        crc = int.from_bytes(trailer[:4], "little")
        size = int.from_bytes(trailer[4:], "little")
        if crc != self._crc or size != self._size & 0xFFFFFFFF:
            raise ArchiveError(_GZIP_BAD_CHECKSUM)

    def _member_header(self) -> bool:
        """Read a member header; False when the input ends cleanly before one."""
        head = self._take(10)
        if not head:
            return False
        if len(head) < 10:
            raise ArchiveError(_UNEXPECTED_EOF)
        if head[0] != 0x1F or head[1] != 0x8B or head[2] != 8:
            raise ArchiveError(_GZIP_BAD_HEADER)
        flags = head[3]
        seen = bytearray(head)
        if flags & 0x04:  # FEXTRA
            length = self._need(2)
            seen += length + self._need(int.from_bytes(length, "little"))
        for flag in (0x08, 0x10):  # FNAME, FCOMMENT: NUL-terminated, Go allows 511 bytes
            if flags & flag:
                seen += self._c_string()
        header_crc = zlib.crc32(seen) & 0xFFFF
        if flags & 0x02 and int.from_bytes(self._need(2), "little") != header_crc:  # FHCRC
            raise ArchiveError(_GZIP_BAD_HEADER)
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._crc = 0
        self._size = 0
        return True

    def _c_string(self) -> bytes:
        text = bytearray()
        while True:
            if len(text) >= 512:
                raise ArchiveError(_GZIP_BAD_HEADER)
            byte = self._need(1)
            text += byte
            if byte == b"\0":
                return bytes(text)

    def _need(self, size: int) -> bytes:
        data = self._take(size)
        if len(data) < size:
            raise ArchiveError(_UNEXPECTED_EOF)
        return data

    def _take(self, size: int) -> bytes:
        while len(self._input) < size:
            more = self._source.read(max(_CHUNK, size - len(self._input)))
            if not more:
                break
            self._input += more
        data, self._input = self._input[:size], self._input[size:]
        return data


@dataclass
class _Header:
    name: str
    linkname: str
    typeflag: int
    mode: int
    size: int


class _HeaderError(Exception):
    """archive/tar's ErrHeader."""


class _TarReader:
    """Go's tar.Reader: entries with their raw header names and PAX global headers included."""

    def __init__(self, stream: _GzipReader) -> None:
        self._stream = stream
        self._remaining = 0
        self._pad = 0

    def read(self, size: int) -> bytes:
        """The current entry's data; b"" at its end."""
        if self._remaining <= 0:
            return b""
        chunk = self._stream.read(min(size, self._remaining))
        if not chunk:
            raise ArchiveError(_UNEXPECTED_EOF)
        self._remaining -= len(chunk)
        return chunk

    def next(self) -> _Header | None:
        """The next entry, or None at the end of the archive (Go's io.EOF)."""
        pax: dict[str, str] = {}
        long_name = long_link = ""
        while True:
            while self.read(_CHUNK):
                pass
            if self._pad and len(self._read_up_to(self._pad)) < self._pad:
                return None  # Go's tryReadFull: a missing padding block reads as io.EOF
            self._pad = 0
            block = self._read_block()
            if block is None:
                return None
            try:
                header = _parse_header(block)
                self._start_data(header)
                if header.typeflag in (_TYPE_PAX, _TYPE_PAX_GLOBAL):
                    records = _parse_pax(self._special_file())
                    if header.typeflag == _TYPE_PAX_GLOBAL:
                        _merge_pax(header, records)
                        return header
                    pax = records
                    continue
                if header.typeflag in (_TYPE_GNU_LONG_NAME, _TYPE_GNU_LONG_LINK):
                    value = _c_string(self._special_file())
                    if header.typeflag == _TYPE_GNU_LONG_NAME:
                        long_name = value
                    else:
                        long_link = value
                    continue
                _merge_pax(header, pax)
            except _HeaderError as err:
                raise ArchiveError(_TAR_BAD_HEADER) from err
            header.name = long_name or header.name
            header.linkname = long_link or header.linkname
            if header.typeflag == _TYPE_REGA:
                header.typeflag = _TYPE_DIR if header.name.endswith("/") else _TYPE_REG
            try:
                self._start_data(header)
            except _HeaderError as err:
                raise ArchiveError(_TAR_BAD_HEADER) from err
            return header

    def _start_data(self, header: _Header) -> None:
        size = 0 if header.typeflag in _HEADER_ONLY_TYPES else header.size
        if size < 0:
            raise _HeaderError
        self._remaining = size
        self._pad = -size % _BLOCK

    def _special_file(self) -> bytes:
        data = bytearray()
        while len(data) <= _MAX_SPECIAL_FILE and (chunk := self.read(_CHUNK)):
            data += chunk
        if len(data) > _MAX_SPECIAL_FILE:
            raise ArchiveError(_TAR_FIELD_TOO_LONG)
        return bytes(data)

    def _read_block(self) -> bytes | None:
        block = self._read_full(_BLOCK)
        if block is None or block != _ZERO_BLOCK:
            return block
        # One zero block must be followed by a second to end the archive.
        block = self._read_full(_BLOCK)
        if block is None or block == _ZERO_BLOCK:
            return None
        raise ArchiveError(_TAR_BAD_HEADER)

    def _read_full(self, size: int) -> bytes | None:
        data = self._read_up_to(size)
        if not data:
            return None
        if len(data) < size:
            raise ArchiveError(_UNEXPECTED_EOF)
        return data

    def _read_up_to(self, size: int) -> bytes:
        data = b""
        while len(data) < size and (chunk := self._stream.read(size - len(data))):
            data += chunk
        return data


def _parse_header(block: bytes) -> _Header:
    """One 512-byte header as Go's reader parses it; _HeaderError when it is not one."""
    try:
        checksum = _parse_octal(block[148:156])
    except _HeaderError:
        checksum = -1
    unsigned = sum(block) - sum(block[148:156]) + 8 * 0x20
    signed = unsigned - 256 * sum(1 for byte in block[:148] + block[156:] if byte >= 0x80)
    if checksum not in (unsigned, signed):
        raise _HeaderError
    magic, version, trailer = block[257:263], block[263:265], block[508:512]
    header = _Header(
        name=_c_string(block[0:100]),
        linkname=_c_string(block[157:257]),
        typeflag=block[156],
        mode=_parse_numeric(block[100:108]),
        size=_parse_numeric(block[124:136]),
    )
    for field in (block[108:116], block[116:124], block[136:148]):  # uid, gid, mtime
        _parse_numeric(field)
    prefix = ""
    if magic == b"ustar\0" or (magic == b"ustar " and version == b" \0"):
        _parse_numeric(block[329:337])  # devmajor
        _parse_numeric(block[337:345])  # devminor
        if magic == b"ustar\0" and trailer == b"tar\0":  # star: a shorter prefix and times
            prefix = _c_string(block[345:476])
            _parse_numeric(block[476:488])
            _parse_numeric(block[488:500])
        elif magic == b"ustar\0":
            prefix = _c_string(block[345:500])
    if prefix:
        header.name = prefix + "/" + header.name
    return header


def _c_string(field: bytes) -> str:
    end = field.find(b"\0")
    return (field if end < 0 else field[:end]).decode("utf-8", "surrogateescape")


def _parse_octal(field: bytes) -> int:
    field = field.strip(b" \0")
    if not field:
        return 0
    end = field.find(b"\0")
    digits = field if end < 0 else field[:end]
    if not digits or any(byte not in b"01234567" for byte in digits):
        raise _HeaderError
    value = int(digits, 8)
    if value >= 1 << 64:
        raise _HeaderError
    return value - (1 << 64) if value > _INT64_MAX else value


def _parse_numeric(field: bytes) -> int:
    if not field or not field[0] & 0x80:
        return _parse_octal(field)
    # GNU base-256: two's complement, the top bit of the first byte marks the form.
    invert = 0xFF if field[0] & 0x40 else 0
    value = 0
    for index, byte in enumerate(field):
        byte ^= invert
        if index == 0:
            byte &= 0x7F
        if value >> 56:
            raise _HeaderError
        value = value << 8 | byte
    if value >> 63:
        raise _HeaderError
    return ~value if invert else value


def _parse_pax(data: bytes) -> dict[str, str]:
    """PAX records `<length> <key>=<value>\\n`, each checked as Go checks them."""
    records: dict[str, str] = {}
    rest = data
    while rest:
        size_text, space, _ = rest.partition(b" ")
        if not space or not re.fullmatch(rb"[+-]?[0-9]+", size_text):
            raise _HeaderError
        size = int(size_text)
        if size < 5 or size > len(rest) or size <= len(size_text) + 1:
            raise _HeaderError
        record, rest = rest[len(size_text) + 1 : size], rest[size:]
        if not record.endswith(b"\n"):
            raise _HeaderError
        key_bytes, equals, value_bytes = record[:-1].partition(b"=")
        if not equals or not key_bytes:
            raise _HeaderError
        checked = (
            value_bytes if key_bytes in (b"path", b"linkpath", b"uname", b"gname") else key_bytes
        )
        if b"\0" in checked:
            raise _HeaderError
        key = key_bytes.decode("utf-8", "surrogateescape")
        if key not in ("GNU.sparse.offset", "GNU.sparse.numbytes"):
            records[key] = value_bytes.decode("utf-8", "surrogateescape")
    return records


def _merge_pax(header: _Header, records: dict[str, str]) -> None:
    for key, value in records.items():
        if value == "":
            continue  # Go keeps the header's own value
        if key == "path":
            header.name = value
        elif key == "linkpath":
            header.linkname = value
        elif key in ("uid", "gid", "size"):
            number = _pax_int(value)
            if key == "size":
                header.size = number
        elif key in ("atime", "mtime", "ctime"):
            seconds, _, fraction = value.partition(".")
            _pax_int(seconds)
            if not _PAX_FRACTION.fullmatch(fraction):
                raise _HeaderError


def _pax_int(text: str) -> int:
    if not _PAX_INT.fullmatch(text):
        raise _HeaderError
    value = int(text)
    if not -(1 << 63) <= value <= _INT64_MAX:
        raise _HeaderError
    return value


@contextmanager
def _open_dir(root_fd: int, parts: list[str], *, create: bool, mode: int) -> Iterator[int]:
    """Open stage-relative directory `parts` component by component, never following links."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            if create:
                with suppress(FileExistsError):
                    os.mkdir(part, mode, dir_fd=fd)
            try:
                next_fd = os.open(part, _DIR_OPEN_FLAGS, dir_fd=fd)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise ArchiveError(f"unsafe archive path {quote('/'.join(parts))}") from err
                raise
            os.close(fd)
            fd = next_fd
        yield fd
    finally:
        os.close(fd)


def _ancestors(cleaned: str) -> Iterator[str]:
    parts = cleaned.split("/")
    for index in range(1, len(parts)):
        yield "/".join(parts[:index])


def _dir(path: str) -> str:
    head, _, _ = path.rpartition("/")
    return clean(head) if head else "."


def _valid_fs_path(name: str) -> bool:
    # io/fs.ValidPath: valid UTF-8 (tarfile carries bad bytes as surrogates), no empty,
    # `.` or `..` elements.
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))
