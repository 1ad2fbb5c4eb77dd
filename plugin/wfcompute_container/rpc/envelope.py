"""One line -> JSON value -> JSON-RPC 2.0 message (envelope rules: docs/PROTOCOL.md §1)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NoReturn

from wfcompute_container.goparity.text import has_surrogates, replace_surrogates
from wfcompute_container.rpc.errors import RpcError, invalid_request, parse_error

RequestId = int | str


@dataclass(frozen=True)
class Request:
    id: RequestId
    method: str
    params: dict[str, Any] | list[Any] | None


@dataclass(frozen=True)
class Notification:
    method: str
    params: dict[str, Any] | list[Any] | None


@dataclass(frozen=True)
class InvalidMessage:
    """Answered with `error`; `id` is the request's id when that id itself was valid."""

    id: RequestId | None
    error: RpcError


Message = Request | Notification | InvalidMessage


def _reject_constant(name: str) -> NoReturn:
    # Python's decoder accepts NaN and Infinity; JSON does not.
    raise ValueError(f"invalid JSON literal {name}")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _int_beyond_python_limit(text: str) -> int | float:
    # Valid JSON, but longer than Python's int-conversion limit (4300 digits, a guard against
    # quadratic conversion): kept as the float it is to Go's decoder (infinite at that size),
    # so the schema, not the parser, refuses it.
    try:
        return int(text)
    except ValueError:
        return float(text)


# Used only for the rare line the default decoder refused for an over-long integer.
_WIDE_INT_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, parse_int=_int_beyond_python_limit
)


def _replace_lone_surrogates(value: Any) -> Any:
    """Go's decoder turns an unpaired \\uD800-\\uDFFF escape into U+FFFD; Python keeps it.

    Keys and values at any depth are fixed in place (the value is freshly decoded and ours).
    The walk is iterative, so a document nested as deep as the decoder allows is fine.
    """
    if isinstance(value, str):
        return replace_surrogates(value)
    pending: list[Any] = [value]
    while pending:
        container = pending.pop()
        if isinstance(container, list):
            for index, item in enumerate(container):
                if isinstance(item, str):
                    if has_surrogates(item):
                        container[index] = replace_surrogates(item)
                elif isinstance(item, dict | list):
                    pending.append(item)
        elif isinstance(container, dict):
            if any(has_surrogates(key) for key in container):
                # Rebuilt in order; keys that now coincide keep the last value, as duplicate
                # keys do when decoding.
                items = list(container.items())
                container.clear()
                for key, item in items:
                    container[replace_surrogates(key)] = item
            for key, item in container.items():
                if isinstance(item, str):
                    if has_surrogates(item):
                        container[key] = replace_surrogates(item)
                elif isinstance(item, dict | list):
                    pending.append(item)
    return value


def decode_line(line: bytes) -> Any:
    """The JSON value of one line; RpcError(-32700) when it is not UTF-8 or not JSON."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise parse_error(f"invalid UTF-8 at byte offset {exc.start}") from None
    try:
        try:
            value = _DECODER.decode(text)
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError) or "integer string conversion" not in str(exc):
                raise
            value = _WIDE_INT_DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise parse_error(f"{exc.msg} at offset {exc.pos}") from None
    except ValueError as exc:  # e.g. NaN
        raise parse_error(str(exc)) from None
    except RecursionError:
        raise parse_error("JSON nested too deeply") from None
    # Strictly decoded UTF-8 holds no surrogates, so only a \\uDxxx escape can make one: the
    # walk is skipped for (almost) every line.
    if "\\ud" in text or "\\uD" in text:
        value = _replace_lone_surrogates(value)
    return value


def is_valid_id(value: Any) -> bool:
    """Strings and integers; bool is an int in Python but not an id on the wire."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def id_key(request_id: RequestId) -> tuple[bool, RequestId]:
    """A dict key under which ids 1 and "1" stay different."""
    return (isinstance(request_id, str), request_id)


_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a non-integer number",
    bool: "a boolean",
    type(None): "null",
}


def json_type_name(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def read_message(value: Any) -> Message:
    """Classify one JSON value (a whole line, or one element of a batch)."""
    if not isinstance(value, dict):
        return InvalidMessage(
            None, invalid_request(f"expected a JSON object, got {json_type_name(value)}")
        )
    has_id = "id" in value
    raw_id = value.get("id")
    echo_id = raw_id if has_id and is_valid_id(raw_id) else None
    if value.get("jsonrpc") != "2.0":
        return InvalidMessage(echo_id, invalid_request('jsonrpc must be "2.0"'))
    if has_id and not is_valid_id(raw_id):
        return InvalidMessage(
            None,
            invalid_request(f"id must be a string or an integer, got {json_type_name(raw_id)}"),
        )
    method = value.get("method")
    if not isinstance(method, str):
        return InvalidMessage(echo_id, invalid_request("method must be a string"))
    params = value.get("params")
    if "params" in value and not isinstance(params, dict | list):
        return InvalidMessage(
            echo_id,
            invalid_request(f"params must be an object or an array, got {json_type_name(params)}"),
        )
    if not has_id:
        return Notification(method, params)
    assert echo_id is not None
    return Request(echo_id, method, params)
