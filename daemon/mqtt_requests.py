"""What a request from an untrusted MQTT client must pass before the daemon acts on it or answers it.

Anyone who may publish on the broker can send a request, so everything in it is checked before use: the payload
(size cap, UTF-8, JSON, a JSON object, nesting depth) and above all the reply topic. A reply published to an
invalid topic (a NUL, a lone surrogate, more than 65535 bytes) makes the broker drop the daemon's connection, and
a reply to an arbitrary valid topic makes the daemon a confused deputy (it could write into another node's
request topics or into Home Assistant's discovery tree), so reply topics must also lie under an allowed prefix.
Every check raises RequestError with one line naming what was wrong; nothing here echoes a large value back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .api import RequestError

MAX_REPLY_TOPIC_BYTES = 512  # our own CLI uses ~60; MQTT allows 65535 but nothing legitimate needs that
MAX_DEPTH = 32  # request parameters are flat; deep nesting only costs recursion (echoed transactions, logs)
_MQTT_FORBIDDEN = {"+": "a wildcard '+'", "#": "a wildcard '#'", "\0": "a NUL character"}


def _control(ch: str) -> bool:
    # MQTT 5 section 1.5.4: control characters U+0001..U+001F and U+007F..U+009F SHOULD NOT appear in topics
    return ch < " " or "\x7f" <= ch <= "\x9f"


def check_reply_topic(topic: Any, allowed_prefixes: Iterable[str]) -> str:
    """`topic` as a reply topic the daemon may publish to, or RequestError saying why not."""
    if not isinstance(topic, str):
        raise RequestError(f"reply_to must be a string topic, got {type(topic).__name__}")
    if not topic:
        raise RequestError("reply_to is empty")
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:
        raise RequestError("reply_to is not valid UTF-8 (it contains a lone surrogate)") from None
    if size > MAX_REPLY_TOPIC_BYTES:
        raise RequestError(f"reply_to is longer than {MAX_REPLY_TOPIC_BYTES} bytes ({size})")
    for ch, what in _MQTT_FORBIDDEN.items():
        if ch in topic:
            kind = "NUL" if ch == "\0" else "wildcard"
            raise RequestError(f"reply_to contains {what} ({kind} characters are not allowed in a reply topic)")
    if any(_control(ch) for ch in topic):
        raise RequestError("reply_to contains a control character")
    prefixes = tuple(allowed_prefixes)
    if not any(topic.startswith(p) and len(topic) > len(p) for p in prefixes):
        raise RequestError(f"reply_to must be a topic under {' or '.join(prefixes)} "
                           "(see mqtt.reply_topic_prefixes)")
    return topic


def decode_request(raw: Any, max_bytes: int) -> dict[str, Any]:
    """A request payload as a JSON object (empty payload = {}), or RequestError naming the problem."""
    data = bytes(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else str(raw or "").encode()
    if len(data) > max_bytes:
        raise RequestError(f"request payload is larger than {max_bytes} bytes ({len(data)}; "
                           "see mqtt.max_request_bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"request payload is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        return {}
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(f"request payload is not JSON: {exc.msg} at char {exc.pos}") from None
    except RecursionError:
        raise RequestError(f"request payload is nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(params, dict):
        raise RequestError("request payload must be a JSON object")
    if _depth_exceeds(params, MAX_DEPTH):
        raise RequestError(f"request payload is nested deeper than {MAX_DEPTH} levels")
    return params


def _depth_exceeds(obj: Any, limit: int) -> bool:
    """Iterative (never recursion-limited) check that no container sits deeper than `limit`."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))
    return False


def json_object(raw: Any) -> dict[str, Any] | None:
    """A retained message or reply read from the broker as a JSON object, or None when it is anything else
    (not UTF-8, not JSON, nested past the decoder's recursion limit, not an object): whoever may publish on the
    broker may have written it, and it must never stop a daemon's start or a CLI call with a traceback."""
    data = bytes(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else str(raw or "").encode()
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    return obj if isinstance(obj, dict) else None
