"""Property tests: parsers never fail with anything but StratumFormatError, and the server answers every line of
arbitrary JSON-ish input with exactly one reply while a real miner keeps working."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from asicrc.drivers.sim.cpuminer import find_shares
from asicrc.drivers.stratum.client import StratumClient
from asicrc.drivers.stratum.server import ServerConfig, StratumServer
from asicrc.drivers.stratum.work import Notify, StratumFormatError, Submit

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=11) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
hexish = st.text(alphabet="0123456789abcdefxyz-+_ ", max_size=70)


flat_values = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=70) | hexish \
    | st.lists(hexish, max_size=3)


VALID_NOTIFY = ["1", "00" * 32, "01", "02", ["11" * 32], "20000000", "1703a30c", "6000000a", True]
VALID_SUBMIT = ["w", "1", "00000001", "6000000a", "b2957c02", "00002000"]
nearly_valid = st.one_of(
    *(st.tuples(*(st.just(v) | flat_values for v in valid)).map(list) for valid in (VALID_NOTIFY, VALID_SUBMIT))
)


@settings(max_examples=200, deadline=None)
@given(st.lists(flat_values, min_size=0, max_size=11) | nearly_valid)
def test_parsers_raise_only_format_errors(params: list[Any]) -> None:
    for parse in (Notify.from_params, Submit.from_params):
        try:
            parse(params)
        except StratumFormatError:
            pass


METHODS = ["mining.submit", "mining.subscribe", "mining.authorize", "mining.configure",
           "mining.suggest_difficulty", "mining.extranonce.subscribe", "mining.ping", "nope"]


# a method may be any JSON value (a list or dict once raised TypeError in the pong check and killed the connection);
# "pong" / "mining.pong" are answers, not requests, and get no reply, so they are not drawn here
any_method = st.sampled_from(METHODS) | json_values.filter(lambda m: m not in ("pong", "mining.pong")
                                                           if isinstance(m, str) else True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(any_method, json_values), min_size=1, max_size=25))
def test_server_answers_every_line(batch: list[tuple[Any, Any]]) -> None:
    async def scenario() -> None:
        async with StratumServer(ServerConfig(difficulty=1 / 65536, job_interval_s=0)) as server:
            miner = StratumClient("127.0.0.1", server.port, "good")
            await miner.connect()
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            lines = [json.dumps({"id": i, "method": m, "params": p}).encode() + b"\n"
                     for i, (m, p) in enumerate(batch)]
            writer.write(b"".join(lines))
            replies: set[int] = set()
            while len(replies) < len(lines):
                msg = json.loads(await asyncio.wait_for(reader.readline(), 5))
                if msg.get("method") is None:  # a reply (notifications carry a method)
                    assert "result" in msg and "error" in msg
                    replies.add(msg["id"])
            assert replies == set(range(len(lines)))
            job = await miner.wait_job(timeout_s=5)
            s = find_shares(job, b"\0\0\0\1", 1)[0]
            assert (await miner.submit(s.job_id, s.extranonce2, s.ntime, s.nonce)).accepted
            writer.close()
            await miner.close()

    asyncio.run(scenario())


SERVER_METHODS = ["mining.notify", "mining.set_difficulty", "mining.set_version_mask", "mining.set_extranonce",
                  "client.reconnect", "mining.ping", "client.get_version", "client.show_message", "nope"]
# mostly the methods a client handles, with params shaped like theirs (short lists of strings, hex-ish or not)
server_methods = st.one_of(*[st.sampled_from(SERVER_METHODS)] * 3, json_values)
server_params = st.one_of(*[st.lists(st.one_of(hexish, st.text(max_size=12), flat_values), max_size=4)] * 3,
                          json_values)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(server_methods, server_params, json_values), min_size=1, max_size=20))
@example([("mining.set_version_mask", ["xyz"], None)])  # once a traceback per message
@example([("mining.set_difficulty", [float("inf")], None), ("mining.set_extranonce", ["zz", 4], None),
          ("client.reconnect", ["127.0.0.1", 70000, 0], None), ("mining.notify", [["x"]] * 9, 5)])
def test_client_survives_whatever_a_pool_sends(batch: list[tuple[Any, Any, Any]]) -> None:
    """A hostile or broken upstream (the proxy's sessions face real pools): the client keeps its session, answers
    what needs an answer, and logs no traceback; a valid job afterwards still arrives."""
    async def scenario() -> None:
        import logging

        records: list[logging.LogRecord] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                records.append(record)

        handler = Keep(level=logging.WARNING)
        logging.getLogger("asicrc.drivers.stratum.client").addHandler(handler)
        served = asyncio.Event()

        async def pool(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while line := await reader.readline():
                msg = json.loads(line)
                method, req_id = msg.get("method"), msg.get("id")
                if method == "mining.subscribe":
                    writer.write(b'{"id":%d,"result":[[],"00000001",4],"error":null}\n' % req_id)
                elif method == "mining.authorize":
                    writer.write(b'{"id":%d,"result":true,"error":null}\n' % req_id)
                    for m, params, rid in batch:  # the garbage, then one good job
                        writer.write(json.dumps({"id": rid, "method": m, "params": params}).encode() + b"\n")
                    writer.write(json.dumps({"id": None, "method": "mining.notify",
                                             "params": ["ok", *VALID_NOTIFY[1:]]}).encode() + b"\n")
                    served.set()
                elif method is not None:
                    writer.write(b'{"id":%d,"result":true,"error":null}\n' % req_id)
                await writer.drain()

        srv = await asyncio.start_server(pool, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        client = StratumClient("127.0.0.1", port, "rig", version_rolling=None, follow_reconnect=False)
        try:
            await client.connect()
            await asyncio.wait_for(served.wait(), 5)
            for _ in range(200):
                if client.job is not None and client.job.job_id == "ok":
                    break
                await asyncio.sleep(0.01)
            assert client.job is not None and client.job.job_id == "ok" and client.connected.is_set()
            assert not [r for r in records if r.exc_info], [r.getMessage() for r in records if r.exc_info]
        finally:
            logging.getLogger("asicrc.drivers.stratum.client").removeHandler(handler)
            await client.close()
            srv.close()

    asyncio.run(scenario())
