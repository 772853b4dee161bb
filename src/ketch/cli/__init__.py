"""The `ketch` command: Docker's CLI, speaking the Engine API through ketch.client."""
