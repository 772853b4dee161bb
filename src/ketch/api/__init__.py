"""The Docker Engine API server: routes -> engine calls, stream framing."""
