"""Go `time` texts: RFC 3339 with trimmed nanoseconds, and Duration.String()."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

ZERO_TIME_TEXT = "0001-01-01T00:00:00Z"
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


class NanoDatetime(datetime):
    """A datetime that keeps Go's sub-microsecond digits (``extra_nanos``: 0..999 ns).

    Python datetimes stop at microseconds; Go times carry nanoseconds, and a time decoded from
    JSON must re-encode to the same text. Arithmetic and comparisons ignore the extra digits;
    use ``unix_nanos`` where nanosecond order matters.
    """

    extra_nanos: int

    def __new__(cls, *args: Any, extra_nanos: int = 0, **kwargs: Any) -> NanoDatetime:
        self = super().__new__(cls, *args, **kwargs)
        self.extra_nanos = extra_nanos
        return self

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Keep the extra digits through copy/deepcopy/pickle.
        return (_rebuild_nano, (datetime.__reduce__(self), self.extra_nanos))


def _rebuild_nano(base: Any, extra_nanos: int) -> NanoDatetime:
    plain: datetime = base[0](*base[1])
    return NanoDatetime(
        plain.year,
        plain.month,
        plain.day,
        plain.hour,
        plain.minute,
        plain.second,
        plain.microsecond,
        plain.tzinfo,
        extra_nanos=extra_nanos,
    )


def nanosecond_of(value: datetime) -> int:
    """The fractional second in nanoseconds (Go Time.Nanosecond())."""
    return value.microsecond * 1000 + getattr(value, "extra_nanos", 0)


def unix_nanos(value: datetime) -> int:
    """Nanoseconds since the Unix epoch (for exact ordering of times)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    whole = (delta.days * 86_400 + delta.seconds) * 1_000_000_000
    return whole + nanosecond_of(value)


_ZERO_UNIX_NANOS = unix_nanos(datetime(1, 1, 1, tzinfo=UTC))


def format_rfc3339nano(value: datetime | None) -> str:
    """Go time.Time JSON text: fraction printed only when non-zero, trailing zeros trimmed."""
    if value is None:
        return ZERO_TIME_TEXT
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    offset = value.utcoffset() or timedelta(0)
    base = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.year < 1000:
        base = f"{value.year:04d}" + base[base.index("-") :]
    frac = ""
    nanos = nanosecond_of(value)
    if nanos:
        frac = "." + f"{nanos:09d}".rstrip("0")
    if offset == timedelta(0):
        zone = "Z"
    else:
        total = int(offset.total_seconds())
        sign = "+" if total >= 0 else "-"
        total = abs(total)
        zone = f"{sign}{total // 3600:02d}:{(total % 3600) // 60:02d}"
    return base + frac + zone


def parse_rfc3339(text: str) -> datetime:
    """Parse RFC 3339 as Go's time.Time UnmarshalJSON does (fraction kept to nanoseconds).

    Digits beyond microseconds are kept in a NanoDatetime so the text re-encodes unchanged.
    """
    m = _RFC3339.match(text)
    if not m:
        raise ValueError(f"parsing time {text!r} as RFC 3339: invalid format")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    # Go reads every fraction digit and keeps nanoseconds (the first nine).
    nanos = int((frac + "000000000")[:9]) if frac else 0
    micro, extra = divmod(nanos, 1000)
    if m.group(8):
        tz: timezone = UTC
    else:
        sign = 1 if m.group(9) == "+" else -1
        tz = timezone(sign * timedelta(hours=int(m.group(10)), minutes=int(m.group(11))))
    if extra:
        return NanoDatetime(
            year, month, day, hour, minute, second, micro, tzinfo=tz, extra_nanos=extra
        )
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


def is_zero_time(value: datetime | None) -> bool:
    if value is None:
        return True
    # Go's IsZero compares instants, to the nanosecond, and never fails (year-1 times with an
    # offset cannot be converted to UTC as Python datetimes).
    return unix_nanos(value) == _ZERO_UNIX_NANOS


def format_duration_ns(ns: int) -> str:
    """Go time.Duration.String() for a duration in nanoseconds."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    sign = "-" if neg else ""
    if u < 1_000_000_000:
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            return sign + _frac(u, 1_000) + "µs"
        return sign + _frac(u, 1_000_000) + "ms"
    secs_text = _frac(u % 60_000_000_000, 1_000_000_000) + "s"
    total_minutes = u // 60_000_000_000
    if total_minutes == 0:
        return sign + secs_text
    hours, minutes = divmod(total_minutes, 60)
    if hours == 0:
        return f"{sign}{minutes}m{secs_text}"
    return f"{sign}{hours}h{minutes}m{secs_text}"


def _frac(value: int, unit: int) -> str:
    whole, rest = divmod(value, unit)
    if rest == 0:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}." + f"{rest:0{digits}d}".rstrip("0")


def format_duration_ms(ms: int) -> str:
    return format_duration_ns(ms * 1_000_000)
