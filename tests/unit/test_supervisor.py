"""The worker supervisor: restart back-off and the worker slots behind static group membership."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli.supervisor import INSTANCE_ID_VAR, claim_worker_slot, supervise, supervise_worker
from ehcp.settings import Settings


class SteppingClock:
    """Monotonic seconds that jump ``step`` on every reading."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_a_child_that_ran_a_while_is_restarted_at_once_every_time() -> None:
    """A worker killed after running 20 s is restarted at once each time, not after 1, 2, 4, 8 s."""
    waits: list[float] = []
    supervise([sys.executable, "-c", "raise SystemExit(9)"], sleep=waits.append, max_restarts=4,
              clock=SteppingClock(20.0))
    assert waits == [0.0, 0.0, 0.0, 0.0]


def test_slots_are_the_lowest_free_numbers_and_are_reused_once_released(tmp_path: Path) -> None:
    """Two workers on one host get different instance ids; a released slot is taken again."""
    first = claim_worker_slot("ehcp-streams", tmp_path)
    second = claim_worker_slot("ehcp-streams", tmp_path)
    host = os.uname().nodename
    assert (first.instance_id, second.instance_id) == (f"ehcp-streams-{host}-0",
                                                       f"ehcp-streams-{host}-1")
    first.release()
    again = claim_worker_slot("ehcp-streams", tmp_path)
    assert again.instance_id == f"ehcp-streams-{host}-0"
    second.release()
    again.release()


def test_a_slot_stays_taken_while_a_child_that_inherited_it_lives(tmp_path: Path) -> None:
    """A worker child outliving its supervisor keeps its id from being handed to a second worker."""
    slot = claim_worker_slot("app", tmp_path)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             pass_fds=(slot.lock_fd,))
    try:
        slot.release()
        other = claim_worker_slot("app", tmp_path)
        assert other.instance_id.endswith("-1")
        other.release()
    finally:
        child.kill()
        child.wait()
    assert claim_worker_slot("app", tmp_path).instance_id.endswith("-0")


def test_supervised_children_get_the_slot_instance_id(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Every child of one supervisor joins with the same group.instance.id, its slot's."""
    monkeypatch.setattr("cli.supervisor.default_slot_dir", lambda app_id: tmp_path / app_id)
    out = tmp_path / "ids.txt"
    child = (f"import os; open({str(out)!r}, 'a').write(os.environ[{INSTANCE_ID_VAR!r}] + '\\n');"
             "raise SystemExit(1)")
    settings = Settings(app_id="slotted", pseudonym_key="k" * 40)
    code = supervise_worker(settings, [sys.executable, "-c", child], max_restarts=2,
                            sleep=lambda _s: None)
    assert code == 1
    ids = out.read_text().split()
    assert len(ids) == 3
    assert set(ids) == {f"slotted-{os.uname().nodename}-0"}


def test_without_static_membership_children_get_no_instance_id(tmp_path: Path) -> None:
    """EHCP_STATIC_MEMBERSHIP=false: children join as dynamic members."""
    out = tmp_path / "env.txt"
    child = f"import os; open({str(out)!r}, 'w').write(os.environ.get({INSTANCE_ID_VAR!r}, '-'))"
    settings = Settings(app_id="dynamic", pseudonym_key="k" * 40, static_membership=False)
    supervise_worker(settings, [sys.executable, "-c", child], max_restarts=0)
    assert out.read_text() == "-"
