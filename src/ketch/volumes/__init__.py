"""Named volumes with Docker's `local` driver: a directory per volume under the data
root, optionally backed by a tmpfs or a bind mount the driver options describe."""

from ketch.volumes.store import ANONYMOUS_LABEL, Volume, VolumeStore

__all__ = ["ANONYMOUS_LABEL", "Volume", "VolumeStore"]
