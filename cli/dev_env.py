"""Local development environment: a generated pseudonym key kept in ``.ehcp/dev.env``.

Only ``ehcp dev`` uses this; production sets ``EHCP_PSEUDONYM_KEY`` itself (no secret defaults).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_dev_env(path: Path) -> dict[str, str]:
    """Read ``KEY=VALUE`` lines, creating the file with a fresh pseudonym key if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"EHCP_PSEUDONYM_KEY={secrets.token_hex(32)}\n")
        path.chmod(0o600)
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def apply_dev_env(path: Path) -> None:
    """Put the dev env values into ``os.environ`` unless already set there."""
    for key, value in load_dev_env(path).items():
        os.environ.setdefault(key, value)
