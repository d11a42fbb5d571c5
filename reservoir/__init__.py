"""asicrc.reservoir."""
