#!/usr/bin/env python3
"""Sync an LA's cases, advice documents and alerts from EHCP Exchange into a local folder.

A starting point for an LA's IT team (Python 3.11+, standard library only):

    EHCP_LA_TOKEN=ehcp_... python3 la_client.py https://broker.example.org ./ehcp-sync

It writes, under the folder:

    cases/<case id>.json      each case as the API gives it (re-written when it changes)
    documents/<sha256>        each advice document, its SHA-256 checked before it is kept
    alerts.json               every alert by alert_id, latest state; open ones in alerts-open.json
    state.json                the cursors: the next run asks only for what changed since

Run it again (from cron, say) and it resumes where it stopped: the cursors are saved after each
page, once that page's cases and documents are on disk. The token comes from the environment,
never the command line (where other users of the machine could read it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

PAGE = 100


class Api:
    """GETs with the bearer token; errors say what the server said (a problem's detail)."""

    def __init__(self, base_url: str, token: str) -> None:
        if urllib.parse.urlsplit(base_url).scheme not in ("https", "http"):
            raise SystemExit("BASE_URL must be https:// (http:// only for a local test broker)")
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def open(self, path: str, **query: str) -> Any:
        url = f"{self.base}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        # The base URL's scheme was checked to be http(s): no file: or custom schemes.
        request = urllib.request.Request(url, headers=self.headers)  # noqa: S310
        try:
            return urllib.request.urlopen(request, timeout=60)  # noqa: S310
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise SystemExit(f"GET {path}: {exc.code} {detail}") from exc

    def json(self, path: str, **query: str) -> Any:
        with self.open(path, **query) as response:
            return json.load(response)


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def download_document(api: Api, folder: Path, document: dict[str, Any]) -> None:
    """Fetch a document unless already kept; keep it only if its SHA-256 is the one announced."""
    sha256 = document["sha256"]
    target = folder / "documents" / sha256
    if target.exists():
        return
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent)
    with os.fdopen(fd, "wb") as handle, api.open(document["href"]) as response:
        while chunk := response.read(64 * 1024):
            digest.update(chunk)
            handle.write(chunk)
    if digest.hexdigest() != sha256:
        os.unlink(tmp)
        raise SystemExit(f"document {sha256}: the bytes received have another SHA-256")
    os.replace(tmp, target)


def safe_name(case_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", case_id)


def sync_cases(api: Api, folder: Path, state: dict[str, str], save: Any) -> int:
    changed = 0
    while True:
        page = api.json("/api/la/cases", cursor=state.get("cases", ""), limit=str(PAGE))
        for summary in page["items"]:
            case = api.json(summary["href"])
            for advice in case["advice_received"]:
                if advice["document"]:
                    download_document(api, folder, advice["document"])
            path = folder / "cases" / f"{safe_name(case['case_id'])}.json"
            write_atomically(path, json.dumps(case, indent=2).encode())
            changed += 1
        state["cases"] = page["cursor"]
        save()
        if not page["has_more"]:
            return changed


def sync_alerts(api: Api, folder: Path, state: dict[str, str], save: Any) -> list[dict[str, Any]]:
    path = folder / "alerts.json"
    alerts = json.loads(path.read_text()) if path.exists() else {}
    while True:
        page = api.json("/api/la/alerts", cursor=state.get("alerts", ""), limit=str(PAGE))
        for alert in page["items"]:
            alerts[alert["alert_id"]] = alert
        write_atomically(path, json.dumps(alerts, indent=2).encode())
        state["alerts"] = page["cursor"]
        save()
        if not page["has_more"]:
            break
    still_open = [a for a in alerts.values() if a["open"]]
    write_atomically(folder / "alerts-open.json", json.dumps(still_open, indent=2).encode())
    return still_open


def main() -> None:
    if len(sys.argv) != 3 or "EHCP_LA_TOKEN" not in os.environ:
        raise SystemExit("usage: EHCP_LA_TOKEN=... la_client.py BASE_URL FOLDER")
    api = Api(sys.argv[1], os.environ["EHCP_LA_TOKEN"])
    folder = Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    state_path = folder / "state.json"
    state: dict[str, str] = json.loads(state_path.read_text()) if state_path.exists() else {}

    def save() -> None:
        write_atomically(state_path, json.dumps(state).encode())

    changed = sync_cases(api, folder, state, save)
    still_open = sync_alerts(api, folder, state, save)
    print(f"{changed} case(s) changed; {len(still_open)} open alert(s)")


if __name__ == "__main__":
    main()
