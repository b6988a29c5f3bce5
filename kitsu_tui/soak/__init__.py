"""kitsu soak and kitsu bench: long headless runs and the latency benchmark."""
