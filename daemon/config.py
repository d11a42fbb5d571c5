"""Daemon configuration: a typed TOML schema, validated completely before anything starts.

Every error names the dotted path of the offending key (``mqtt.port``, ``devices[1].frequency_mhz``) and what was
expected, in one line. Validation has two stages: the schema (types, ranges, unknown keys) via msgspec, then the
semantic checks that need the whole config (unique device ids, setpoints inside the model's safety envelope).
"""

from __future__ import annotations

import re
import socket
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

import msgspec

from asicrc.drivers.registry import MODELS, ModelName
from asicrc.drivers.stratum.auth import parse_peers
from asicrc.drivers.usererror import UserError

from .envelopes import NoEnvelope, envelope_for

NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
Name = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, le=86400)]

Command = Literal["set_frequency", "set_voltage", "set_fan", "set_difficulty", "restart_device", "start_narma",
                  "start_experiment", "stop_experiment"]
# Requests that change a device or start work; the allowlist in [mqtt] picks which of these are honoured.
COMMANDS: tuple[Command, ...] = ("set_frequency", "set_voltage", "set_fan", "set_difficulty", "restart_device",
                                 "start_narma", "start_experiment", "stop_experiment")
# Read-only queries are always allowed.
QUERIES = ("status", "devices", "telemetry", "reservoir", "narma", "tpf", "ping")


class ConfigError(UserError, ValueError):
    """The configuration is invalid; the message is one line naming the key."""



class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class NodeConfig(_Section):
    id: Annotated[str, msgspec.Meta(pattern=r"^([A-Za-z0-9_-]{1,64})?$")] = ""  # "" = from the host name
    state_dir: str = ""  # "" = $STATE_DIRECTORY (systemd) or ~/.local/state/asicrc
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    poll_interval_s: PositiveSeconds = 2.0
    clock_speed: Annotated[float, msgspec.Meta(gt=0, le=1000)] = 1.0
    # polls (one connection each) running at once across the fleet; first polls are spread over the interval
    max_polls_in_flight: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 256


class MqttConfig(_Section):
    enabled: bool = True
    host: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 1883
    protocol: Literal["5", "3.1.1"] = "5"
    username: str = ""
    password: str = ""
    password_file: str = ""  # read at start-up; keeps secrets out of the config file
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    base_topic: Name = "asicrc"
    keepalive_s: Annotated[int, msgspec.Meta(ge=5, le=3600)] = 30
    telemetry_interval_s: PositiveSeconds = 5.0
    request_timeout_s: PositiveSeconds = 30.0
    discovery: bool = True
    discovery_prefix: Name = "homeassistant"
    # Read-only by default: a command is honoured only when listed here (docs/install.md: broker ACLs first).
    allow_commands: list[Command] = msgspec.field(default_factory=list)
    # Each allowed command at most this many times per minute (burst of the same size); per-command overrides.
    command_rate_per_min: Annotated[float, msgspec.Meta(gt=0, le=6000)] = 6.0
    command_rates: dict[Command, Annotated[float, msgspec.Meta(gt=0, le=6000)]] = msgspec.field(
        default_factory=dict)
    # Replies go only to topics under these prefixes; [] = "<base_topic>/client/" (where `asicrc query` listens).
    reply_topic_prefixes: list[Annotated[str, msgspec.Meta(min_length=1, max_length=200,
                                                           pattern=r"^[^+#\x00]+/$")]] = msgspec.field(
        default_factory=list)
    max_request_bytes: Annotated[int, msgspec.Meta(ge=1024, le=16 * 1024 * 1024)] = 65536
    max_concurrent_requests: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 16
    requests_per_s: Annotated[float, msgspec.Meta(gt=0, le=100000)] = 50.0  # all requests; excess dropped
    # how often the daemon sends itself a request through the broker; one that does not come back means the broker
    # stopped delivering this node's requests (mosquitto 2.0.11 after 20 oversized QoS 1 messages): reconnect
    selfcheck_interval_s: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 30.0

    @property
    def reply_prefixes(self) -> list[str]:
        return list(self.reply_topic_prefixes) or [f"{self.base_topic}/client/"]

    def command_rate_per_s(self, command: str) -> float:
        return float(self.command_rates.get(command, self.command_rate_per_min)) / 60.0  # type: ignore[call-overload]


class PrometheusConfig(_Section):
    enabled: bool = True
    host: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1"
    port: Port = 9808  # 0 = any free port (logged)


WorkerName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]
Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class StratumWorkerConfig(_Section):
    """[stratum.workers.<name>]: what a miner must present to authorize as <name> (or <name>.anything).
    A configured device's id is such a name even without a table: then it must connect from the device's host."""

    password: str = ""  # "" = not checked
    password_file: str = ""  # read at start-up; keeps secrets out of the config file
    peers: list[str] = msgspec.field(default_factory=list)  # addresses / CIDR networks; [] = any address

    def __post_init__(self) -> None:  # msgspec reports a ValueError here with the key's path
        if self.password and self.password_file:
            raise ValueError("set either password or password_file, not both")
        if self.password_file and not Path(self.password_file).is_file():
            raise ValueError(f"password_file {self.password_file!r} does not exist")
        parse_peers(self.peers)


class StratumConfig(_Section):
    enabled: bool = True
    host: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1"
    port: Port = 0  # 0 = any free port; simulated devices are pointed at it
    lbry_port: Port = 0  # the LBRY variant (LB-Box); started only when an lbbox device is configured
    difficulty: Annotated[float, msgspec.Meta(gt=0)] = 64.0  # initial share difficulty of a connection
    # what a miner's mining.suggest_difficulty may do (a control hook such as set_difficulty always wins):
    # the research default "ignore" keeps the configured difficulty, the experiment's input, in force
    suggest_difficulty: Literal["honour", "floor", "ignore"] = "ignore"
    # who may authorize: configured device ids (from their host, or as [stratum.workers.<id>] says), the names
    # in [stratum.workers], and, with allow_unknown_workers, any other name (never a configured one)
    workers: dict[WorkerName, StratumWorkerConfig] = msgspec.field(default_factory=dict)
    allow_unknown_workers: bool = False
    max_connections: Count = 1024
    max_connections_per_ip: Count = 64  # a proxy or NAT in front of many miners needs more
    max_pending_per_ip: Count = 16  # not-yet-authorized connections of one address (beyond: its oldest closed)
    max_workers_per_connection: Count = 32
    max_share_keys: Count = 1_000_000  # duplicate-detection memory of the pool (~90 B each); beyond, the heaviest sheds
    handshake_timeout_s: PositiveSeconds = 30.0
    idle_timeout_s: PositiveSeconds = 900.0  # an authorized connection silent this long is closed
    evict_silent_after_s: PositiveSeconds = 60.0  # when full, a connection silent this long may give up its slot


class ReservoirConfig(_Section):
    enabled: bool = True
    window_s: PositiveSeconds = 1.0


class TpfConfig(_Section):
    enabled: bool = True


class ExperimentsConfig(_Section):
    """Bounds on experiments started over MQTT (their cost is set by the requester's parameters)."""

    max_steps_x_seeds: Annotated[int, msgspec.Meta(ge=1, le=10**9)] = 200_000  # NARMA default run: 1000 x 5
    max_speed: Annotated[float, msgspec.Meta(gt=0, le=10000)] = 100.0


class RecordingConfig(_Section):
    enabled: bool = False
    dir: str = ""  # "" = <state_dir>/recordings


class DeviceConfig(_Section):
    id: Name
    model: ModelName  # the drivers' model registry
    transport: Literal["sim", "http", "rpc", "serial"] = "sim"
    host: str = "127.0.0.1"
    port: Port = 0  # 0 = the model's standard port (HTTP for lv06/lbbox, the 4028 API for s9)
    rpc_port: Port = 0  # lbbox: its cgminer API port (0 = 4028), for a Goldshell behind NAT or a port forward
    serial_port: str = ""
    enabled: bool = True
    seed: int = 0  # simulated devices only
    frequency_mhz: float | None = None
    core_voltage_mv: float | None = None
    fan_percent: float | None = None
    difficulty: float | None = None  # share difficulty for this device's pool connection


class Config(_Section):
    node: NodeConfig = msgspec.field(default_factory=NodeConfig)
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    prometheus: PrometheusConfig = msgspec.field(default_factory=PrometheusConfig)
    stratum: StratumConfig = msgspec.field(default_factory=StratumConfig)
    reservoir: ReservoirConfig = msgspec.field(default_factory=ReservoirConfig)
    tpf: TpfConfig = msgspec.field(default_factory=TpfConfig)
    recording: RecordingConfig = msgspec.field(default_factory=RecordingConfig)
    experiments: ExperimentsConfig = msgspec.field(default_factory=ExperimentsConfig)
    devices: list[DeviceConfig] = msgspec.field(default_factory=list)

    @property
    def node_id(self) -> str:
        return self.node.id or default_node_id()


def default_node_id() -> str:
    """The host name reduced to the characters allowed in MQTT topics and HA ids."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname().split(".")[0]).strip("-")
    return name[:64] or "asicrc"


_PATH_RE = re.compile(r"^(?P<msg>.*?)(?: - at (?P<key>`key` in )?`\$(?P<path>[^`]*)`)?$")
_UNKNOWN_RE = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")
_MISSING_RE = re.compile(r"Object missing required field `(?P<field>[^`]+)`")


def _explain(exc: msgspec.ValidationError) -> str:
    """Turn msgspec's message into ``dotted.key: what was wrong``."""
    m = _PATH_RE.match(str(exc).splitlines()[0])
    msg, path = (m.group("msg"), m.group("path") or "") if m else (str(exc), "")
    path = path.lstrip(".")
    for regex, what in ((_UNKNOWN_RE, "unknown key"), (_MISSING_RE, "required key is missing")):
        km = regex.match(msg)
        if km:
            key = f"{path}.{km.group('field')}" if path else km.group("field")
            return f"{key}: {what}"
    msg = msg[0].lower() + msg[1:] if msg else msg
    if m and m.group("key"):  # a bad key of a table (e.g. mqtt.command_rates = {format = 2})
        if msg.startswith("invalid enum value"):
            msg += f" (choose from {', '.join(COMMANDS)})" if path.endswith("command_rates") else ""
        return f"{path}: bad key: {msg}"
    if msg.startswith("invalid enum value") and (choices := _choices(path)):
        msg += f" (choose from {', '.join(choices)})"
    return f"{path or '<top level>'}: {msg}"


def _choices(path: str) -> tuple[str, ...]:
    """The allowed values of the Literal-typed key at ``path`` (e.g. ``devices[0].model``), else ()."""
    tp: Any = Config
    for part in re.sub(r"\[\d+\]", "", path).split("."):
        try:
            tp = get_type_hints(tp).get(part)
        except TypeError:
            return ()
        while get_origin(tp) is list:
            tp = get_args(tp)[0]
    return tuple(str(a) for a in get_args(tp)) if get_origin(tp) is Literal else ()


def parse(text: str, source: str = "<config>") -> Config:
    """Validate a TOML document completely; raise ConfigError (one line) on the first problem."""
    try:
        cfg = msgspec.toml.decode(text.encode(), type=Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_explain(exc)}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {str(exc).splitlines()[0]}") from None
    check_semantics(cfg, source)
    return cfg


def check_semantics(cfg: Config, source: str) -> None:
    seen: dict[str, int] = {}
    for i, dev in enumerate(cfg.devices):
        where = f"{source}: devices[{i}]"
        if dev.id in seen:
            raise ConfigError(f"{where}.id: duplicate device id {dev.id!r} (also devices[{seen[dev.id]}])")
        seen[dev.id] = i
        if dev.transport == "serial" and not dev.serial_port:
            raise ConfigError(f"{where}.serial_port: required when transport = \"serial\"")
        if dev.transport == "sim" and MODELS[dev.model].link == "uart":
            raise ConfigError(f"{where}.transport: model {dev.model!r} is a serial chain; use transport = \"serial\"")
        setpoints = (("frequency_mhz", dev.frequency_mhz), ("core_voltage_mv", dev.core_voltage_mv),
                     ("fan_percent", dev.fan_percent), ("difficulty", dev.difficulty))
        if all(v is None for _, v in setpoints):
            continue
        try:
            envelope = envelope_for(dev.model)
        except NoEnvelope as exc:
            name = next(n for n, v in setpoints if v is not None)
            raise ConfigError(f"{where}.{name}: {exc}") from None
        for name, value in setpoints:
            if value is None:
                continue
            rng = envelope.range_for(name)
            if not rng.low <= value <= rng.high:
                raise ConfigError(f"{where}.{name}: {value:g} is outside the {dev.model} safety envelope "
                                  f"[{rng.low:g}, {rng.high:g}]")
    mq = cfg.mqtt
    if mq.password and mq.password_file:
        raise ConfigError(f"{source}: mqtt.password_file: set either mqtt.password or mqtt.password_file, not both")
    for key, path in (("ca_file", mq.ca_file), ("cert_file", mq.cert_file), ("key_file", mq.key_file),
                      ("password_file", mq.password_file)):
        if path and not Path(path).is_file():
            raise ConfigError(f"{source}: mqtt.{key}: file {path!r} does not exist")
    if (mq.cert_file or mq.key_file or mq.ca_file) and not mq.tls:
        raise ConfigError(f"{source}: mqtt.tls: must be true when ca_file/cert_file/key_file are set")


def load(path: str | Path | None) -> Config:
    """Load `path`, or the embedded default (simulated S9 + LV06 + LB-Box) when `path` is None."""
    if path is None:
        text = resources.files("asicrc.daemon").joinpath("default.toml").read_text()
        return parse(text, "<embedded default config>")
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: config is not UTF-8 text") from None
    return parse(text, str(p))
