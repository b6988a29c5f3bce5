"""kitsu: plain command functions the CLI calls (no Textual)."""
