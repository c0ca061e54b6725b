"""The access list (ehcp/contract/access.py) matches what the code reads and writes, and the
grants derived from it are least privilege (no broker needed)."""

from __future__ import annotations

import re
from pathlib import Path

from connectors.case_owners import CaseOwnerFeed
from connectors.task_feed import ReminderFeed, TaskFeed
from ehcp.contract import topics
from ehcp.contract.access import (
    CONNECTOR_OUTPUTS,
    WORKER_OUTPUTS,
    WORKSPACE_OUTPUTS,
    Operation,
    Resource,
    components,
    expected_grants,
    faust_leader_topic,
    grants_for,
)
from ehcp.readmodel.mapping import PROJECTED_TOPICS
from notify.consumer import TOPICS as NOTIFIER_TOPICS
from streams.app import CASE_INPUTS, ROUTING_INPUTS

REPO = Path(__file__).resolve().parents[2]
BY_NAME = {c.name: c for c in components("ehcp-streams", "ehcp-notify")}
#: Every catalogue topic constant's name in the code, e.g. CASE_STATUS -> ehcp.case-status.v1.
CONSTANTS = {name: spec.name for name, spec in vars(topics).items()
             if isinstance(spec, topics.TopicSpec)}


def _topics_written(folder: str, pattern: str) -> set[str]:
    """Topic names the code in ``folder`` writes, found by ``pattern`` (a constant's name)."""
    found: set[str] = set()
    for path in (REPO / folder).rglob("*.py"):
        for constant in re.findall(pattern, path.read_text()):
            found.add(CONSTANTS[constant])
    return found


def test_the_workers_reads_are_the_stream_agents_inputs() -> None:
    """The worker is granted exactly the topics its two agents consume."""
    assert set(BY_NAME["worker"].reads) == {t.name for t in (*ROUTING_INPUTS, *CASE_INPUTS)}


def test_everything_the_worker_emits_is_granted() -> None:
    """Every ``Emit(TOPIC, ...)`` in the stages and the timer names a topic the worker may write."""
    emitted = _topics_written("streams", r"Emit\(\s*([A-Z_]+)\b")
    assert emitted, "no Emit(...) found: the pattern no longer matches the code"
    assert emitted <= {t.name for t in WORKER_OUTPUTS}
    assert topics.DEAD_LETTER.name in BY_NAME["worker"].writes


def test_the_connectors_and_workspace_write_only_what_they_are_granted() -> None:
    """Every ``topic=TOPIC.name`` the connectors or the workspace publish to is granted."""
    connectors = _topics_written("connectors", r"topic=([A-Z_]+)\.name")
    workspace = _topics_written("workspace", r"topic=([A-Z_]+)\.name")
    assert connectors
    assert workspace
    assert connectors <= {t.name for t in CONNECTOR_OUTPUTS}
    assert workspace <= {t.name for t in WORKSPACE_OUTPUTS}


def test_the_followers_projector_and_notifier_read_what_they_are_granted() -> None:
    """The connectors' feeds, the projector's topics and the notifier's topics match the list."""
    feeds = {*TaskFeed.topics, *ReminderFeed.topics, *CaseOwnerFeed.topics}
    assert set(BY_NAME["connectors"].reads) == feeds
    assert set(BY_NAME["projector"].reads) == {t.name for t in PROJECTED_TOPICS}
    assert set(BY_NAME["notifier"].reads) == set(NOTIFIER_TOPICS)


def test_read_only_components_get_no_write_and_nobody_gets_a_wildcard() -> None:
    """The projector, notifier and CLI may write nothing; no grant names ``*`` or a prefix."""
    for name in ("projector", "notifier", "cli"):
        ops = {g.operation for g in grants_for(BY_NAME[name])}
        assert Operation.WRITE not in ops
        assert Operation.CREATE not in ops
    for grant in expected_grants("ehcp-streams", "ehcp-notify"):
        assert "*" not in grant.name
        assert grant.principal.startswith("User:ehcp-")


def test_only_the_worker_may_create_and_only_its_own_topics() -> None:
    """CREATE is granted on the worker's changelogs and Faust leader topic, nothing else."""
    creates = {(g.principal, g.name) for g in expected_grants("app", "grp")
               if g.operation is Operation.CREATE}
    assert creates == {("User:ehcp-worker", "app-cases-changelog"),
                       ("User:ehcp-worker", "app-routing-changelog"),
                       ("User:ehcp-worker", faust_leader_topic("app"))}


def test_the_connectors_may_not_read_case_status_or_the_workers_topics() -> None:
    """No READ on case status, routed advice, the routing index, dead letters or changelogs."""
    reads = {g.name for g in grants_for(BY_NAME["connectors"]) if g.operation is Operation.READ}
    for topic in (topics.CASE_STATUS, topics.CONTRIBUTIONS_ROUTED, topics.CHILD_INDEX,
                  topics.UNROUTED, topics.DEAD_LETTER, topics.CONTRIBUTIONS, topics.AUDIT):
        assert topic.name not in reads


def test_consumer_groups_follow_the_settings() -> None:
    """The worker's group is the app id and the notifiers' the notify group; nobody else joins one."""
    groups = {(g.principal, g.name) for g in expected_grants("my-app", "my-notify")
              if g.resource is Resource.GROUP}
    assert groups == {("User:ehcp-worker", "my-app"), ("User:ehcp-notifier", "my-notify")}
