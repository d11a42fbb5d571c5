"""A small JSON-over-HTTP helper on aiohttp that maps every failure to an ApiError naming the URL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from .errors import HttpStatusError, MalformedReply, TransportError

MAX_BODY_BYTES = 2 * 1024 * 1024
READ_CHUNK_BYTES = 65536


async def read_whole_body(resp: aiohttp.ClientResponse, limit: int, where: str) -> bytes:
    """The complete body, however it arrives (Content-Length over several TCP segments, chunked, or until the
    server closes), refusing more than `limit` bytes. A single `read(n)` returns only what is buffered so far:
    real ESP32 and Goldshell replies span several segments."""
    if resp.content_length is not None and resp.content_length > limit:
        raise MalformedReply(f"{where}: body larger than {limit} bytes (Content-Length {resp.content_length})")
    body = bytearray()
    async for chunk in resp.content.iter_chunked(READ_CHUNK_BYTES):
        body += chunk
        if len(body) > limit:
            raise MalformedReply(f"{where}: body larger than {limit} bytes")
    return bytes(body)


class JsonHttp:
    """One aiohttp session per device; `request` returns parsed JSON (or None for an empty body)."""

    def __init__(self, base_url: str, timeout_s: float = 3.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        expect_json: bool = True,
    ) -> Any:
        url = self.base_url + path
        try:
            # One deadline for the whole exchange (connect, headers, every body segment): a server that sends a
            # byte now and then must not hold the poll forever.
            async with asyncio.timeout(self.timeout_s), self._get_session().request(
                method, url, params=params, json=json_body, headers=headers
            ) as resp:
                body = await read_whole_body(resp, MAX_BODY_BYTES, f"{method} {url}")
                if resp.status >= 400:
                    raise HttpStatusError(f"{method} {url}", resp.status, body.decode("utf-8", "replace"))
        except TimeoutError:
            raise TransportError(f"{method} {url}: no complete reply within {self.timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"{method} {url}: {exc.__class__.__name__}: {exc}") from None
        if not body.strip():
            if expect_json:
                raise MalformedReply(f"{method} {url}: empty body where JSON was expected")
            return None
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if not expect_json:
                return body.decode("utf-8", "replace")
            raise MalformedReply(f"{method} {url}: body is not JSON ({exc})") from None
        except RecursionError:  # e.g. 100 000 "[": the C decoder gives up on depth, not on syntax
            raise MalformedReply(f"{method} {url}: body is nested too deeply to be a device reply") from None
