"""kitsu: backends."""
