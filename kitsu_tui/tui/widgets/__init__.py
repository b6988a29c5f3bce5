"""The console's widgets, one module per screen area."""
