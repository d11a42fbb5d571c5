"""asicrc.daemon: the long-running service (config, supervision, MQTT, Prometheus, systemd) and the `asicrc` CLI."""
