"""Go `json.Unmarshal` of a decoded JSON value into a struct described by a pydantic model.

The model stands for the Go struct: each field is named as its JSON key, and its annotation
gives the Go type (`str` string, `bool` bool, `list[X]` []X, `dict[str, X]` map[string]X,
a model class a struct of that name, `X | None` a nil-able slice, map or pointer). Go's rules:

* keys are applied in document order, matched exactly or else under Go's case folding;
  unknown keys are ignored; a repeated key decodes again into the same field (objects and
  maps merge, other values are replaced);
* departure: two different spellings of one field's key in one object (``args`` and
  ``ARGS``) are refused with KeyCollision, so what runs is what a case-sensitive reader saw;
* JSON null sets a slice, map or pointer to nil and leaves any other value as it was (so a
  null list element is the element type's zero value);
* a value of the wrong JSON type is an UnmarshalTypeError. Go keeps decoding but reports the
  first one it met, so the first mismatch in document order is the one raised, as
  ``json: cannot unmarshal <kind> into Go struct field <Struct>.<path> of type <type>``:
  `<Struct>` is the innermost struct being filled, `<path>` the JSON names from the top
  (Go 1.20+), `<type>` the target after pointers are followed.

Numbers are not supported as targets: Go quotes the number's literal text in its error, which
the decoded value no longer carries.
"""

from __future__ import annotations

import types
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel

from .jsondecode import (
    GoJSONError,
    ObjectPairs,
    cannot_unmarshal_field,
    cannot_unmarshal_value,
    match_field,
)
from .text import quote

ModelT = TypeVar("ModelT", bound=BaseModel)

# Stands for "leave the target as it was" (Go ignores null for strings, bools and structs).
_UNCHANGED: Any = object()


def decode_struct(document: Any, model: type[ModelT], package: str) -> ModelT:
    """Go json.Unmarshal of `document` into `package.<model name>`; raises GoJSONError.

    `document` is a decoded JSON value (objects as dicts or ObjectPairs). A null document
    leaves every field at its zero value.
    """
    if document is None:
        return model()
    if not _is_object(document):
        raise GoJSONError(cannot_unmarshal_value(document, _struct_type(model, package)))
    shaped = _decode_object(document, model, package, (), {})
    return model.model_validate(shaped)


def go_type(annotation: Any, package: str) -> str:
    """The Go type a field annotation stands for, as reflect.Type.String() writes it."""
    inner = _optional_inner(annotation)
    if inner is not None:
        written = go_type(inner, package)
        return written if _is_nilable(inner) else f"*{written}"
    if annotation is str:
        return "string"
    if annotation is bool:
        return "bool"
    if _is_model(annotation):
        return _struct_type(annotation, package)
    origin = get_origin(annotation)
    if origin is list:
        (element,) = get_args(annotation)
        return f"[]{go_type(element, package)}"
    if origin is dict:
        key, element = get_args(annotation)
        if key is not str:
            raise TypeError(f"gostruct: map key type {key!r} is not supported")
        return f"map[string]{go_type(element, package)}"
    raise TypeError(f"gostruct: no Go type for annotation {annotation!r}")


def _decode_object(
    document: Any,
    model: type[BaseModel],
    package: str,
    path: tuple[str, ...],
    shaped: dict[str, Any],
) -> dict[str, Any]:
    """Fill `shaped` (the struct so far) from a JSON object, key by key in document order."""
    fields = model.model_fields
    names = list(fields)
    spelled: dict[str, str] = {}
    for key, value in _pairs(document):
        name = match_field(key, names)
        if name is None:
            continue
        first = spelled.setdefault(name, key)
        if first != key:
            raise KeyCollision(_Where(model.__name__, (*path, name)).field, first, key)
        where = _Where(model.__name__, (*path, name))
        decoded = _decode_value(value, fields[name].annotation, package, where, shaped.get(name))
        if decoded is not _UNCHANGED:
            shaped[name] = decoded
    return shaped


class KeyCollision(GoJSONError):
    """Two spellings of one field's key in one object (a departure from Go, which takes both).

    Go matches keys case-insensitively and the last one wins, so ``{"args": [...], "ARGS":
    [...]}`` would run what a case-sensitive reader of the same document never saw.
    """

    def __init__(self, field: str, first: str, second: str) -> None:
        super().__init__(
            f"keys {quote(first)} and {quote(second)} both name field {field} "
            "(keys that differ only in case are refused)"
        )


class _Where:
    """Go's error context: the innermost struct and the JSON field path to the value."""

    __slots__ = ("path", "struct")

    def __init__(self, struct: str, path: tuple[str, ...]) -> None:
        self.struct = struct
        self.path = path

    @property
    def field(self) -> str:
        return f"{self.struct}.{'.'.join(self.path)}"

    def mismatch(self, value: Any, target: str) -> GoJSONError:
        return GoJSONError(cannot_unmarshal_field(value, self.field, target))


def _decode_value(value: Any, annotation: Any, package: str, where: _Where, current: Any) -> Any:
    """The target's new value (or _UNCHANGED) after decoding `value` into type `annotation`.

    `current` is the target's value so far, for a repeated key: objects and maps merge into it.
    """
    inner = _optional_inner(annotation)
    if inner is not None:
        if value is None:
            return None
        return _decode_value(value, inner, package, where, current)
    if value is None:
        return _null_into(annotation)
    if annotation is str or annotation is bool:
        if isinstance(value, annotation):
            return value
        raise where.mismatch(value, go_type(annotation, package))
    if _is_model(annotation):
        if not _is_object(value):
            raise where.mismatch(value, _struct_type(annotation, package))
        into = dict(current) if isinstance(current, dict) else {}
        return _decode_object(value, annotation, package, where.path, into)
    origin = get_origin(annotation)
    if origin is list:
        if not _is_array(value):
            raise where.mismatch(value, go_type(annotation, package))
        (element,) = get_args(annotation)
        return [_element(item, element, package, where) for item in value]
    if origin is dict:
        if not _is_object(value):
            raise where.mismatch(value, go_type(annotation, package))
        _, element = get_args(annotation)
        merged = dict(current) if isinstance(current, dict) else {}
        for key, item in _pairs(value):
            merged[key] = _element(item, element, package, where)
        return merged
    raise TypeError(f"gostruct: no Go type for annotation {annotation!r}")


def _element(value: Any, annotation: Any, package: str, where: _Where) -> Any:
    """A list element or map value: a fresh target, so an ignored null leaves its zero value."""
    decoded = _decode_value(value, annotation, package, where, None)
    return _zero(annotation) if decoded is _UNCHANGED else decoded


def _null_into(annotation: Any) -> Any:
    """Go's null into a non-optional target: a list or map has no nil here, so it empties."""
    origin = get_origin(annotation)
    if origin is list:
        return []
    if origin is dict:
        return {}
    return _UNCHANGED


def _zero(annotation: Any) -> Any:
    if annotation is str:
        return ""
    if annotation is bool:
        return False
    if _is_model(annotation):
        return {}
    return _null_into(annotation)


def _optional_inner(annotation: Any) -> Any:
    """X for `X | None`, else None."""
    if get_origin(annotation) not in (Union, types.UnionType):
        return None
    args = [arg for arg in get_args(annotation) if arg is not type(None)]
    if len(args) != 1 or len(args) == len(get_args(annotation)):
        raise TypeError(f"gostruct: no Go type for annotation {annotation!r}")
    return args[0]


def _is_nilable(annotation: Any) -> bool:
    """Slices and maps are nil-able themselves; anything else optional is a pointer."""
    return get_origin(annotation) in (list, dict)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict | ObjectPairs)


def _is_array(value: Any) -> bool:
    # ObjectPairs is a list underneath, but it stands for an object.
    return isinstance(value, list) and not isinstance(value, ObjectPairs)


def _pairs(document: Any) -> list[tuple[str, Any]]:
    return list(document) if isinstance(document, ObjectPairs) else list(document.items())


def _struct_type(model: type[BaseModel], package: str) -> str:
    return f"{package}.{model.__name__}"
