"""kitsu: audio."""
