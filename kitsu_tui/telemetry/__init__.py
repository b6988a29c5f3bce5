"""kitsu: telemetry."""
