"""kitsu: integrations."""
