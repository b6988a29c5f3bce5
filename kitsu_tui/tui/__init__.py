"""kitsu: tui."""
