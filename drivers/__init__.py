"""asicrc.drivers."""
