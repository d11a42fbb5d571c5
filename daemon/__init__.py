"""asicrc.daemon."""
