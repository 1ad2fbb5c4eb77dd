"""Go time texts: RFC 3339 with nanoseconds, zero time, Duration.String()."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest

from wfcompute_container.goparity.timefmt import (
    ZERO_TIME_TEXT,
    NanoDatetime,
    format_duration_ms,
    format_duration_ns,
    format_rfc3339nano,
    is_zero_time,
    nanosecond_of,
    parse_rfc3339,
    unix_nanos,
)


@pytest.mark.parametrize(
    "text",
    [
        "2026-06-09T00:00:00Z",
        "2026-06-09T00:00:00.1Z",
        "2026-06-09T00:00:00.123456Z",
        "2026-06-09T00:00:00.123456789Z",
        "2026-06-09T00:00:00.000000001Z",
        "2026-06-09T23:59:59.5+05:30",
        "2026-06-09T00:00:00-07:00",
        "0001-01-01T00:00:00Z",
        "0999-01-01T00:00:00Z",
    ],
)
def test_round_trip(text: str) -> None:
    assert format_rfc3339nano(parse_rfc3339(text)) == text


def test_trailing_zeros_are_trimmed_and_utc_is_z() -> None:
    assert format_rfc3339nano(parse_rfc3339("2026-06-09T00:00:00.120000000Z")) == (
        "2026-06-09T00:00:00.12Z"
    )
    assert format_rfc3339nano(parse_rfc3339("2026-06-09T00:00:00.000+00:00")) == (
        "2026-06-09T00:00:00Z"
    )
    assert format_rfc3339nano(None) == ZERO_TIME_TEXT
    naive = datetime(2026, 1, 2, 3, 4, 5)
    assert format_rfc3339nano(naive) == "2026-01-02T03:04:05Z"


def test_nanoseconds_are_kept() -> None:
    value = parse_rfc3339("2026-06-09T00:00:00.123456789+02:00")
    assert isinstance(value, NanoDatetime)
    assert value.extra_nanos == 789
    assert nanosecond_of(value) == 123456789
    for clone in (copy.copy(value), copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
        assert format_rfc3339nano(clone) == "2026-06-09T00:00:00.123456789+02:00"
    plain = parse_rfc3339("2026-06-09T00:00:00.123456Z")
    assert type(plain) is datetime


def test_unix_nanos_orders_sub_microsecond_times() -> None:
    earlier = parse_rfc3339("2026-06-09T00:00:00.000000001Z")
    later = parse_rfc3339("2026-06-09T00:00:00.000000002Z")
    assert unix_nanos(earlier) < unix_nanos(later)
    assert unix_nanos(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    shifted = datetime(1970, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert unix_nanos(shifted) == 0


@pytest.mark.parametrize(
    "bad",
    ["2026-06-09", "2026-06-09T00:00:00", "2026-06-09 00:00:00Z", "2026-13-01T00:00:00Z", ""],
)
def test_parse_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(bad)


def test_zero_time() -> None:
    assert is_zero_time(None)
    assert is_zero_time(datetime(1, 1, 1, tzinfo=UTC))
    assert not is_zero_time(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (250_000_000, "250ms"),
        (1_500_000_000, "1.5s"),
        (45_000_000_000, "45s"),
        (60_000_000_000, "1m0s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (9_000_000_000_000, "2h30m0s"),
        (-1_500_000_000, "-1.5s"),
    ],
)
def test_duration(ns: int, text: str) -> None:
    assert format_duration_ns(ns) == text


def test_duration_ms() -> None:
    assert format_duration_ms(60_000) == "1m0s"


def test_zero_time_is_the_instant_to_the_nanosecond() -> None:
    assert is_zero_time(parse_rfc3339("0001-01-01T00:00:00Z"))
    # A nanosecond later is not zero; a year-1 time with an offset is an instant, not an error.
    assert not is_zero_time(parse_rfc3339("0001-01-01T00:00:00.000000001Z"))
    assert not is_zero_time(parse_rfc3339("0001-01-01T00:30:00+01:00"))
    assert is_zero_time(parse_rfc3339("0001-01-01T01:00:00+01:00"))


def test_fractions_beyond_nanoseconds_are_read_and_truncated() -> None:
    value = parse_rfc3339("2026-01-01T00:00:00.1234567891Z")
    assert format_rfc3339nano(value) == "2026-01-01T00:00:00.123456789Z"
