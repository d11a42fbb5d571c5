"""Typed field access for JSON replies: a missing or mistyped field becomes MalformedReply naming it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import MalformedReply


def as_mapping(obj: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise MalformedReply(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


def as_list(obj: Any, where: str) -> list[Any]:
    if not isinstance(obj, list):
        raise MalformedReply(f"{where}: expected a JSON array, got {type(obj).__name__}")
    return obj


def number(obj: Mapping[str, Any], key: str, where: str) -> float:
    """A required numeric field; numeric strings (cgminer's "chain_rate6":"4466.53") are accepted."""
    if key not in obj:
        raise MalformedReply(f"{where}: missing field {key!r}")
    return to_number(obj[key], f"{where}: field {key!r}")


def opt_number(obj: Mapping[str, Any], key: str, where: str) -> float | None:
    """An optional numeric field: absent, null or "" (cgminer's empty slot) -> None; anything else that is not a
    number -> MalformedReply."""
    value = obj.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return to_number(value, f"{where}: field {key!r}")


def to_number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise MalformedReply(f"{where}: expected a number, got a boolean")
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise MalformedReply(f"{where}: expected a number, got {value[:40]!r}") from None
    else:
        raise MalformedReply(f"{where}: expected a number, got {type(value).__name__}")
    if not math.isfinite(result):
        raise MalformedReply(f"{where}: expected a finite number, got {value!r}")
    return result


def string(obj: Mapping[str, Any], key: str, where: str) -> str:
    if key not in obj:
        raise MalformedReply(f"{where}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, str):
        raise MalformedReply(f"{where}: field {key!r}: expected a string, got {type(value).__name__}")
    return value


def opt_string(obj: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise MalformedReply(f"{where}: field {key!r}: expected a string, got {type(value).__name__}")
    return str(value)
