"""Hostile stdin lines for the protocol fuzzer (hypothesis strategies and a plain-random generator).

Every generated line carries what the sender may expect of it: ``expect`` holds the ids that
must be answered exactly once (requests whose id the sender allocated and whose line the
plugin can read as such); ``own`` every id the sender allocated (never answered twice).
Ids come from a namespace random data cannot plausibly hit.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from .valid_requests import SESSION_METHODS

JSONValue = Any


@dataclass
class FuzzLine:
    data: bytes
    expect: list[int | str] = field(default_factory=list)
    own: list[int | str] = field(default_factory=list)
    kind: str = ""


class IdPool:
    """Unique request ids: large negative integers and ``fz-`` strings, alternating."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def take(self) -> int | str:
        n = next(self._next)
        return -(10**15) - n if n % 2 else f"fz-{n}"


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def readable_request_id(line: bytes, limit: int) -> int | str | None:
    """The id the plugin will answer ``line`` with, when it can read the line at all."""
    body = line.rstrip(b"\n").removesuffix(b"\r")
    if len(body) > limit - 16:  # near or past the line limit: no promise either way
        return None
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or "id" not in value:
        return None
    msg_id = value["id"]
    if isinstance(msg_id, bool) or not isinstance(msg_id, int | str):
        return None
    return msg_id


def corrupted_line(line: bytes, msg_id: int | str, limit: int) -> FuzzLine:
    """A byte-corrupted request; one whose id the corruption turned into another id (which
    may be one of ours, answered elsewhere) is not sent."""
    readable = readable_request_id(line, limit)
    if readable is not None and readable != msg_id:
        return FuzzLine(b"\n", kind="blank")
    return FuzzLine(line, [msg_id] if readable == msg_id else [], [msg_id], "corrupt")


def batch_request_ids(elements: list[Any]) -> list[int | str]:
    """Ids a batch's answer array must hold: elements that are objects with a valid id."""
    ids: list[int | str] = []
    for element in elements:
        if isinstance(element, dict) and "id" in element:
            msg_id = element["id"]
            if not isinstance(msg_id, bool) and isinstance(msg_id, int | str):
                ids.append(msg_id)
    return ids


# ----- hypothesis strategies ------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)
method_names = st.one_of(
    st.sampled_from(
        [
            "plugin.manifest",
            "digest.validate",
            "sandbox.plan",
            "command.run",
            "$/cancelRequest",
            "exit",
            "initialize",
            "",
            "rpc.discover",
            "DIGEST.VALIDATE",
        ]
    ),
    st.text(max_size=30),
).filter(lambda name: name != "shutdown")
invalid_ids = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=False), st.lists(st.integers(), max_size=2)
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        root = root[part]
    return root


def mutate_params(params: Any, rng: random.Random, replacement: Any) -> Any:
    """One structural mutation somewhere inside ``params``."""
    params = copy.deepcopy(params)
    paths = _paths(params)
    path = paths[rng.randrange(len(paths))]
    if not path:
        return replacement
    parent = _parent(params, path)
    key = path[-1]
    action = rng.randrange(6)
    if action == 0:
        parent[key] = replacement
    elif action == 1:
        del parent[key]
    elif action == 2 and isinstance(parent, dict):
        parent[f"unknown_{rng.randrange(100)}"] = replacement
    elif action == 3:
        item = parent[key]
        if isinstance(item, str):
            parent[key] = item[: rng.randrange(len(item) + 1)] + rng.choice(
                ["..", "/", "\x00", "\n", "é", " ", "-", "%q", "$(id)", "\\"]
            )
        elif isinstance(item, bool):
            parent[key] = not item
        elif isinstance(item, int):
            parent[key] = rng.choice([0, -1, 2**63, 2**64 + 1, item * 1000])
        else:
            parent[key] = str(item)
    elif action == 4:
        parent[key] = [parent[key]] * rng.randrange(0, 4)
    else:
        parent[key] = {"value": parent[key]}
    return params


def _guard(method: str, params: Any, tmp_catalog: str) -> Any:
    """Keep a mutated request away from the network: installs always name a local catalog."""
    if (
        method in ("managed_runtime.install", "managed_runtime.reinstall", "managed_runtime.doctor")
        and isinstance(params, dict)
        and not isinstance(params.get("catalog"), str)
    ):
        params["catalog"] = tmp_catalog
    return params


@st.composite
def mutated_requests(
    draw: st.DrawFn, bases: list[tuple[str, dict[str, Any]]], pool: IdPool, catalog: str
) -> tuple[dict[str, Any], int | str]:
    """A valid request, mutated 0–3 times in params or envelope, with an id of our own."""
    method, params = draw(st.sampled_from(bases))
    rng = random.Random(draw(st.integers(0, 2**32)))
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(["params", "params", "params", "method", "jsonrpc", "all"]))
        if target == "params":
            message["params"] = mutate_params(message.get("params"), rng, draw(json_values))
        elif target == "method":
            message["method"] = draw(method_names | json_scalars)
        elif target == "jsonrpc":
            message["jsonrpc"] = draw(json_scalars)
        else:
            message["params"] = draw(json_values)
    if message.get("method") == "shutdown":
        message["method"] = "shutdown-not"
    msg_id = pool.take()
    message["id"] = msg_id
    method_name = message["method"] if isinstance(message["method"], str) else ""
    message["params"] = _guard(method_name, message.get("params"), catalog)
    return message, msg_id


def encode(message: Any, rng: random.Random) -> bytes:
    text = json.dumps(message, ensure_ascii=rng.random() < 0.5)
    ending = b"\r\n" if rng.random() < 0.2 else b"\n"
    return text.encode("utf-8", "surrogatepass") + ending


@st.composite
def fuzz_lines(
    draw: st.DrawFn,
    bases: list[tuple[str, dict[str, Any]]],
    golden: list[str],
    pool: IdPool,
    catalog: str,
    limit: int,
) -> FuzzLine:
    """One line of any hostile kind."""
    kind = draw(
        st.sampled_from(
            [
                "bytes",
                "json",
                "mutated",
                "mutated",
                "golden",
                "corrupt",
                "oversized",
                "batch",
                "bad-id",
                "blank",
            ]
        )
    )
    rng = random.Random(draw(st.integers(0, 2**32)))
    if kind == "bytes":
        data = draw(st.binary(max_size=300)).replace(b"\n", b" ") + b"\n"
        return FuzzLine(data, kind=kind)
    if kind == "json":
        return FuzzLine(encode(draw(json_values), rng), kind=kind)
    if kind == "blank":
        return FuzzLine(draw(st.sampled_from([b"\n", b"\r\n", b"   \n", b"\t\n"])), kind=kind)
    if kind == "mutated":
        message, msg_id = draw(mutated_requests(bases, pool, catalog))
        data = encode(message, rng)
        readable = readable_request_id(data, limit)
        return FuzzLine(data, [msg_id] if readable == msg_id else [], [msg_id], kind)
    if kind == "golden":
        text = draw(st.sampled_from(golden))
        try:
            value = json.loads(text)
        except ValueError:
            return FuzzLine(text.encode("utf-8", "surrogateescape") + b"\n", kind=kind)
        if not isinstance(value, dict):
            return FuzzLine(encode(value, rng), kind=kind)
        if value.get("method") in SESSION_METHODS:
            return FuzzLine(b"\n", kind="blank")  # would end or reset the session
        if "id" not in value:
            return FuzzLine(encode(value, rng), kind=kind)  # a notification: no answer
        method = value.get("method")
        if isinstance(method, str) and method.endswith(".run"):
            # no real runtime in the fuzzer (and PATH is empty anyway)
            value.setdefault("params", {}).update({"runtime": {"tool": "nerdctl"}})
        msg_id = pool.take()
        value["id"] = msg_id
        data = encode(value, rng)
        readable = readable_request_id(data, limit)
        return FuzzLine(data, [msg_id] if readable == msg_id else [], [msg_id], kind)
    if kind == "corrupt":
        message, msg_id = draw(mutated_requests(bases, pool, catalog))
        corrupted = bytearray(encode(message, rng).rstrip(b"\r\n"))
        for _ in range(draw(st.integers(1, 4))):
            position = rng.randrange(len(corrupted))
            op = rng.randrange(3)
            if op == 0:
                del corrupted[position]
            elif op == 1:
                corrupted[position] = rng.randrange(256)
            else:
                corrupted.insert(position, rng.choice(b'{}[]",:\\\x00\xff'))
        line = bytes(corrupted).replace(b"\n", b" ").replace(b"\r", b" ") + b"\n"
        return corrupted_line(line, msg_id, limit)
    if kind == "oversized":
        size = draw(st.integers(limit + 1, limit * 4))
        pad = draw(st.sampled_from([b"x", b"\xff", b"[", b" "]))
        msg_id = pool.take()
        head = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "digest.validate"}).encode()
        data = head[:-1] + b',"params":{"digest":"' + pad * size + b'"}}\n'
        return FuzzLine(data, [], [msg_id], kind)
    if kind == "bad-id":
        message, _ = draw(mutated_requests(bases, pool, catalog))
        message["id"] = draw(invalid_ids)
        return FuzzLine(encode(message, rng), kind=kind)
    # batch
    elements: list[Any] = []
    own: list[int | str] = []
    for _ in range(draw(st.integers(0, 5))):
        choice = draw(st.sampled_from(["mutated", "mutated", "json", "notification"]))
        if choice == "mutated":
            message, msg_id = draw(mutated_requests(bases, pool, catalog))
            own.append(msg_id)
            elements.append(message)
        elif choice == "json":
            elements.append(draw(json_values))
        else:
            elements.append({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 1}})
    data = encode(elements, rng)
    readable = len(data) < limit - 16
    expect = [i for i in batch_request_ids(elements) if i in own] if readable else []
    return FuzzLine(data, expect, own, "batch")


# ----- plain-random generator (the soak run: hypothesis draws are too slow for 100 000) --


def random_json(rng: random.Random, depth: int = 0) -> JSONValue:
    roll = rng.randrange(10 if depth < 3 else 6)
    if roll == 0:
        return None
    if roll == 1:
        return rng.random() < 0.5
    if roll == 2:
        return rng.choice([0, -1, 1, 2**31, 2**63, -(2**64), rng.randrange(-1000, 1000)])
    if roll == 3:
        return rng.choice([0.5, -1e308, 1e-7, 3.0])
    if roll in (4, 5):
        alphabet = 'abc/._-:{}[]"\\ \x00\né\u2028\U0001f600$'
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
    if roll in (6, 7):
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {str(random_json(rng, 3)): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


class RandomLines:
    """Hostile lines from a seeded ``random.Random``, same kinds as ``fuzz_lines``."""

    KINDS = (
        "bytes",
        "json",
        "mutated",
        "mutated",
        "mutated",
        "golden",
        "corrupt",
        "batch",
        "bad-id",
        "blank",
        "oversized",
    )

    def __init__(
        self,
        rng: random.Random,
        bases: list[tuple[str, dict[str, Any]]],
        golden: list[str],
        pool: IdPool,
        catalog: str,
        limit: int,
    ) -> None:
        self.rng = rng
        self.bases = bases
        self.golden = [g for g in golden if _golden_usable(g)]
        self.pool = pool
        self.catalog = catalog
        self.limit = limit

    def _mutated(self) -> tuple[dict[str, Any], int | str]:
        rng = self.rng
        method, params = rng.choice(self.bases)
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        for _ in range(rng.randrange(4)):
            target = rng.choice(["params", "params", "params", "method", "jsonrpc", "all"])
            if target == "params":
                message["params"] = mutate_params(message.get("params"), rng, random_json(rng))
            elif target == "method":
                message["method"] = rng.choice(
                    ["plugin.manifest", "exit", "initialize", "", "x", 7, None, "command.run"]
                )
            elif target == "jsonrpc":
                message["jsonrpc"] = rng.choice(["1.0", 2, None, "2.0 "])
            else:
                message["params"] = random_json(rng)
        msg_id = self.pool.take()
        message["id"] = msg_id
        method_name = message["method"] if isinstance(message["method"], str) else ""
        message["params"] = _guard(method_name, message.get("params"), self.catalog)
        return message, msg_id

    def _tracked(self, data: bytes, msg_id: int | str, kind: str) -> FuzzLine:
        readable = readable_request_id(data, self.limit)
        return FuzzLine(data, [msg_id] if readable == msg_id else [], [msg_id], kind)

    def next(self) -> FuzzLine:
        rng = self.rng
        kind = rng.choice(self.KINDS)
        if kind == "oversized" and rng.random() < 0.9:
            kind = "mutated"  # oversized lines are costly to send: keep them rare
        if kind == "bytes":
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
            return FuzzLine(raw.replace(b"\n", b" ") + b"\n", kind=kind)
        if kind == "json":
            return FuzzLine(encode(random_json(rng), rng), kind=kind)
        if kind == "blank":
            return FuzzLine(rng.choice([b"\n", b"\r\n", b"  \n"]), kind=kind)
        if kind == "mutated":
            message, msg_id = self._mutated()
            return self._tracked(encode(message, rng), msg_id, kind)
        if kind == "golden":
            value = json.loads(rng.choice(self.golden))
            msg_id = self.pool.take()
            value["id"] = msg_id
            method = value.get("method")
            if isinstance(method, str) and method.endswith(".run"):
                value.setdefault("params", {}).update({"runtime": {"tool": "nerdctl"}})
            return self._tracked(encode(value, rng), msg_id, kind)
        if kind == "corrupt":
            message, msg_id = self._mutated()
            corrupted = bytearray(encode(message, rng).rstrip(b"\r\n"))
            for _ in range(rng.randrange(1, 5)):
                position = rng.randrange(len(corrupted))
                corrupted[position : position + 1] = bytes([rng.randrange(256)])
            line = bytes(corrupted).replace(b"\n", b" ").replace(b"\r", b" ") + b"\n"
            return corrupted_line(line, msg_id, self.limit)
        if kind == "bad-id":
            message, _ = self._mutated()
            message["id"] = rng.choice([None, True, 1.5, [1], {"a": 1}])
            return FuzzLine(encode(message, rng), kind=kind)
        if kind == "oversized":
            msg_id = self.pool.take()
            head = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "digest.validate"})
            pad = b"x" * rng.randrange(self.limit + 1, self.limit * 3)
            data = head.encode()[:-1] + b',"params":{"digest":"' + pad + b'"}}\n'
            return FuzzLine(data, [], [msg_id], kind)
        elements: list[Any] = []
        own: list[int | str] = []
        for _ in range(rng.randrange(6)):
            if rng.random() < 0.7:
                message, msg_id = self._mutated()
                own.append(msg_id)
                elements.append(message)
            else:
                elements.append(random_json(rng))
        data = encode(elements, rng)
        expect = batch_request_ids(elements) if len(data) < self.limit - 16 else []
        return FuzzLine(data, [i for i in expect if i in own], own, "batch")


def _golden_usable(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and "id" in value and value.get("method") not in SESSION_METHODS
