"""Supervised workers join the consumer group as static members, one id per worker slot.

Two ``ehcp worker`` processes run against the session broker with their own app id: each must
join with its own ``group.instance.id`` (two live members with one id would fence each other),
and a worker whose Faust child is killed with SIGKILL must come back as the same static member.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from ehcp.settings import Settings
from tests.support import settings_env, spawn, stop, wait_until

pytestmark = pytest.mark.integration


def _children(pid: int) -> list[int]:
    """The child pids of ``pid`` (Linux /proc)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _members(bootstrap: str, group: str) -> dict[str, str] | None:
    """group.instance.id -> member id of a Stable group's members, or None if not Stable."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ehcp-test-groups")
    try:
        described: Any = admin.describe_groups([group])
    except KafkaError:  # e.g. the coordinator is not available yet: ask again
        return None
    finally:
        admin.close()
    info = described[group] if isinstance(described, dict) else described[0]
    if info["group_state"] != "Stable":
        return None
    return {m["group_instance_id"]: m["member_id"] for m in info["members"]}


def test_two_supervised_workers_are_distinct_static_members_and_a_killed_one_rejoins_as_itself(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    """Each worker slot has its own group.instance.id, kept across a SIGKILL of its Faust child."""
    app_id = f"ehcp-static-{uuid.uuid4().hex[:8]}"
    env = {**settings_env(kafka_settings), "EHCP_APP_ID": app_id,
           "EHCP_DATA_DIR": str(tmp_path / "data")}
    host = socket.gethostname()
    expected = {f"{app_id}-{host}-0", f"{app_id}-{host}-1"}
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for name in ("a", "b"):
            workers.append(spawn(["worker"], env, tmp_path / f"worker-{name}.log"))
            # One at a time, so that worker a holds slot 0.
            wait_until(lambda: len(_children(workers[-1].pid)) == 1, timeout_s=60,
                       what=f"worker {name}'s Faust child")
        before = wait_until(
            lambda: (m := _members(kafka_settings.kafka_bootstrap, app_id)) and len(m) == 2 and m,
            timeout_s=120, what="two stable members")
        assert set(before) == expected

        (child,) = _children(workers[0].pid)
        os.kill(child, signal.SIGKILL)
        slot_a = f"{app_id}-{host}-0"
        after = wait_until(
            lambda: (m := _members(kafka_settings.kafka_bootstrap, app_id))
            and len(m) == 2 and m.get(slot_a) not in (None, before[slot_a]) and m,
            timeout_s=120, what="worker a's new child to rejoin")
        assert set(after) == expected
        assert after[f"{app_id}-{host}-1"] == before[f"{app_id}-{host}-1"]
        assert all(w.poll() is None for w in workers)
    finally:
        for w in workers:
            stop(w)
    logs = "".join((tmp_path / f"worker-{n}.log").read_text() for n in ("a", "b"))
    assert "FencedInstanceId" not in logs
