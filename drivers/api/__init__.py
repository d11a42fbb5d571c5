"""Management-API clients and typed parsers: cgminer/bmminer 4028 RPC, AxeOS HTTP, Goldshell HTTP.

Clients raise `ApiError` subclasses (never a bare KeyError/JSONDecodeError): `TransportError` for connection
problems and timeouts, `HttpStatusError` for non-2xx replies, `MalformedReply` for replies whose shape or fields are
wrong (the message names the command and the field). Parsers turn replies into telemetry dicts whose keys follow
`asicrc.drivers.events.Event` (SI units).
"""

from .errors import ApiError, ApiStatusError, HttpStatusError, MalformedReply, TransportError

__all__ = ["ApiError", "ApiStatusError", "HttpStatusError", "MalformedReply", "TransportError"]
