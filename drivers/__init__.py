"""asicrc.drivers: everything that talks to a miner or plays one: events, the Device interface and model registry,
Stratum pool/proxy/client, management-API and UART drivers, the simulator and the rig assembler."""
