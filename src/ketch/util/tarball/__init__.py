"""Tar streams, treated as hostile: extraction (layers and `cp`), writing trees, the
compressions layers come in, and tar-split records. Shared by the image store, the engine
and the CLI (`cp` extracts on the host too), so it depends on nothing else of ketch."""
