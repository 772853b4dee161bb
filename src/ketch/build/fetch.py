"""ADD <url>: the file fetched into the build's scratch directory, named after the URL's
last path component, mode 0600 and the server's Last-Modified as mtime (Docker's rules)."""

from __future__ import annotations

import email.utils
import os
import posixpath
import shutil
import urllib.error
import urllib.parse
import urllib.request

from ketch import __version__
from ketch.errors import InvalidParameter, KetchError

TIMEOUT = 60.0  # seconds without progress before a download is given up


def fetch_url(url: str, directory: str) -> str:
    """Download url into directory; returns the file's path."""
    parsed = urllib.parse.urlparse(url)
    name = posixpath.basename(parsed.path.rstrip("/")) if parsed.path else ""
    if not name or name in (".", ".."):
        raise InvalidParameter(f"cannot determine filename from url: {url}")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    request = urllib.request.Request(url, headers={"User-Agent": f"ketch/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
            modified = response.headers.get("Last-Modified")
    except urllib.error.HTTPError as e:
        raise KetchError(f"failed to GET {url} with status {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise KetchError(f"failed to GET {url}: {reason}") from None
    os.chmod(path, 0o600)
    if modified:
        try:
            when = email.utils.parsedate_to_datetime(modified).timestamp()
        except (TypeError, ValueError):
            pass
        else:
            os.utime(path, (when, when))
    return path
