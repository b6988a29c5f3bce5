"""kitsu: safety."""
