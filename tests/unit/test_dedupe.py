"""The bounded recent-id memory that alert readers de-duplicate with."""

from __future__ import annotations

from ehcp.kafka_io.dedupe import RecentIds


def test_a_repeated_id_is_not_new_and_another_is() -> None:
    """An id seen before is reported as a repeat; a new id is not."""
    recent = RecentIds(3)
    assert recent.first_time("a")
    assert not recent.first_time("a")
    assert recent.first_time("b")


def test_memory_is_bounded_and_the_least_recently_seen_id_is_forgotten_first() -> None:
    """Past its capacity the memory forgets the id seen longest ago, never a recently repeated one."""
    recent = RecentIds(2)
    for event_id in ("a", "b"):
        recent.first_time(event_id)
    assert not recent.first_time("a")  # "a" is now the most recently seen
    assert recent.first_time("c")  # forgets "b"
    assert len(recent) == 2
    assert not recent.first_time("a")
    assert recent.first_time("b")
