"""`python -m ketch.runtime`: the same as the `ketch-runtime` command."""

from ketch.runtime.cli import main

main()
