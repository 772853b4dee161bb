"""The daemon's core: containers, their lifecycle, logs, and the supervisor that runs them."""
