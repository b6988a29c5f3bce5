"""kitsu: config."""
