"""`python -m ketch.bootstrap [--out DIR] [--force] [--import-into DATA_ROOT] [IMAGE|all ...]`

IMAGE is busybox or debian:bookworm-slim. With --import-into, each image is also put into
the image store at DATA_ROOT (e.g. /var/lib/ketch) unless it is there already.
Prints one line per image (reference, size, short diff_id, what happened); on failure one
line `ketch: <reason>` on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from ketch.bootstrap.catalog import BUILDERS, build, resolve
from ketch.bootstrap.output import DEFAULT_OUT
from ketch.bootstrap.store import import_base_image
from ketch.errors import KetchError
from ketch.images import ImageStore


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"ketch: {message}", file=sys.stderr)
        sys.exit(2)


def _size(size: int) -> str:
    """Sizes the way docker prints them: 2.0MB, 78.6MB."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1000
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m ketch.bootstrap",
        description="Make ketch's base images (root filesystem tarballs) from Debian packages.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    parser.add_argument("--force", action="store_true", help="rebuild even if current")
    parser.add_argument(
        "--import-into",
        metavar="DATA_ROOT",
        help="also import the images into the image store at DATA_ROOT (e.g. /var/lib/ketch)",
    )
    parser.add_argument(
        "images",
        nargs="*",
        default=["all"],
        metavar="IMAGE",
        help=f"{' | '.join(BUILDERS)} | all (default)",
    )
    args = parser.parse_args(argv)
    try:
        names = list(dict.fromkeys(n for given in args.images for n in resolve(given)))
        for name in names:
            result = build(name, args.out, args.force)
            state = f"built in {result.seconds:.1f}s" if result.built else "up to date"
            print(
                f"{result.image.reference:<22} {_size(result.image.size):>8}  "
                f"{result.image.diff_id[:19]}  {result.tarball}  ({state})",
                flush=True,
            )
            if args.import_into:
                stored = import_base_image(ImageStore(args.import_into), result.image,
                                           result.tarball)
                state = "imported" if stored.imported else "already there"
                print(f"{stored.reference:<22} {stored.image_id[7:19]}  into "
                      f"{args.import_into}  ({state})", flush=True)
    except KetchError as e:
        print(f"ketch: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"ketch: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ketch: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
