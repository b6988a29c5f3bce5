"""kitsu: engine."""
