"""The live alert stream at the HTTP tier: only new alerts, only the user's LA (and caseload)."""

from __future__ import annotations

import json
import threading
from typing import Any

from tests import readmodel_records as rr
from tests.unit.workspace.conftest import Workspace
from tests.unit.workspace.test_access import signed_in
from tests.workspace_support import CASE, CASE_2, FOREIGN_CASE, seed


def _first_alerts(ws: Workspace, who: str, wanted: int) -> list[dict[str, Any]]:
    """Open the stream, add alerts of three cases, and read the first ``wanted`` alert events."""
    ws.app.state.live_poll_s = 0.05  # type: ignore[attr-defined]
    client = signed_in(ws, who)
    got: list[dict[str, Any]] = []
    with client.stream("GET", "/events/alerts") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines).startswith("retry:")
        seeded = threading.Timer(0.2, seed, (ws.engine, rr.alert(FOREIGN_CASE),
                                             rr.alert(CASE_2), rr.alert(CASE)))
        seeded.start()
        for line in lines:
            if line.startswith("data: "):
                got.append(json.loads(line[6:]))
                if len(got) == wanted:
                    break
        seeded.join()
    return got


def test_stream_sends_new_alerts_of_the_las_cases_only(workspace: Workspace) -> None:
    """A manager's stream carries the two new alerts of LA 886's cases, not LA 999's (nor old ones)."""
    alerts = _first_alerts(workspace, "manager", 2)
    assert sorted(a["case_id"] for a in alerts) == sorted([CASE, CASE_2])
    assert {"message", "regulation", "days_overdue", "kind"} <= alerts[0].keys()


def test_case_officer_stream_is_their_caseload(workspace: Workspace) -> None:
    """A case officer's stream carries only the alerts of cases on their caseload."""
    alerts = _first_alerts(workspace, "officer", 1)
    assert [a["case_id"] for a in alerts] == [CASE]
