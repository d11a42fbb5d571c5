"""MQTT topic layout (zigbee2mqtt style), one place so the daemon, the CLI and the docs agree.

    <base>/<node>/status                      retained "online"/"offline" (also the last will)
    <base>/<node>/info                        retained JSON: node summary (version, devices, started)
    <base>/<node>/<device>/state              retained JSON: device snapshot (telemetry, shares, estimate)
    <base>/<node>/<device>/event              JSON per share/fault/state event (not retained)
    <base>/<node>/request/<method>            requests; replies go to the v5 ResponseTopic, else the payload's
    <base>/<node>/response/<method>             reply_to, else here (with the request's transaction echoed)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    base: str
    node: str

    @property
    def root(self) -> str:
        return f"{self.base}/{self.node}"

    @property
    def status(self) -> str:
        return f"{self.root}/status"

    @property
    def info(self) -> str:
        return f"{self.root}/info"

    def device_state(self, device: str) -> str:
        return f"{self.root}/{device}/state"

    def device_event(self, device: str) -> str:
        return f"{self.root}/{device}/event"

    def request(self, method: str = "+") -> str:
        return f"{self.root}/request/{method}"

    def response(self, method: str) -> str:
        return f"{self.root}/response/{method}"

    def device_of_state(self, topic: str) -> str | None:
        """The device id of a `<base>/<node>/<device>/state` topic, else None."""
        prefix, suffix = f"{self.root}/", "/state"
        if topic.startswith(prefix) and topic.endswith(suffix):
            device = topic[len(prefix):-len(suffix)]
            return device if device and "/" not in device else None
        return None

    def method_of(self, topic: str) -> str | None:
        prefix = f"{self.root}/request/"
        return topic[len(prefix):] if topic.startswith(prefix) and "/" not in topic[len(prefix):] else None
