"""The console's screens: main, help, confirmation and persona picker."""
