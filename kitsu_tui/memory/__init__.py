"""kitsu: memory."""
