"""The filesystem :class:`~connectors.ports.DocumentStore`: content-addressed, write-once.

A document lives at ``<root>/<sha256[:2]>/<sha256>``, written to a temporary file, fsynced and
renamed, so a claim only exists once its bytes are durable. Same bytes, same claim.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from connectors.ports import DocumentClaim


class FileDocumentStore:
    """Documents on the local filesystem (mode 0600)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, sha256: str) -> Path:
        return self._root / sha256[:2] / sha256

    def put(self, content: bytes, content_type: str) -> DocumentClaim:
        """Store bytes durably and return their claim."""
        digest = hashlib.sha256(content).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        return DocumentClaim(sha256=digest, size_bytes=len(content), content_type=content_type)

    def get(self, sha256: str) -> bytes | None:
        """The stored bytes, or None."""
        handle = self.open(sha256)
        if handle is None:
            return None
        with handle:
            return handle.read()

    def open(self, sha256: str) -> BinaryIO | None:
        """The stored file opened for reading (the caller closes it), or None."""
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            return None
        try:
            return self._path(sha256).open("rb")
        except FileNotFoundError:
            return None
