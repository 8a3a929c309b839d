"""Developer and operator commands (not deployed)."""
