"""Dockerfile builds: the parser, the build context, the builder and its cache."""
