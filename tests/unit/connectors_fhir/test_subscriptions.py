"""FHIR Subscriptions through the app factory (HTTP tier, fakes, a SQLite file for the notifier's
tables), and the Task pusher queuing changes once on the notifier's delivery log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.fhir.ports import InMemoryTaskStore
from connectors.fhir.subscriptions import PushingTaskStore, TaskPusher
from connectors.fhir.tasks import task_id_for
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.casework.calendar import Calendar
from ehcp.clock import FixedClock
from ehcp.contract import records
from ehcp.contract.topics import AUDIT
from ehcp.identifiers import LA_CODE_SYSTEM, ODS_ORGANISATION_SYSTEM
from ehcp.readmodel.store import open_engine
from ehcp.settings import Settings
from notify import store
from notify.fakes import FakeEmailSender, FakeRestHookSender, FakeWebhookSender
from notify.ports import DeliveryError
from notify.service import Notifier, NotifierConfig
from tests.notify_support import at
from tests.unit.connectors_fhir.support import advice_request

FHIR = "application/fhir+json"
WHO = {"trust": ("health", ODS_ORGANISATION_SYSTEM, "RVV"),
       "other_trust": ("health", ODS_ORGANISATION_SYSTEM, "RBZ"),
       "la": ("local_authority", LA_CODE_SYSTEM, "886")}


def subscription(criteria: str = "Task?owner=RVV", **channel: Any) -> dict[str, Any]:
    """A rest-hook Subscription for trust RVV's Tasks."""
    return {"resourceType": "Subscription", "status": "requested", "reason": "advice requests",
            "criteria": criteria,
            "channel": {"type": "rest-hook", "endpoint": "https://ehr.rvv.example.nhs.uk/fhir",
                        "payload": FHIR, "header": ["Authorization: Bearer trust-own-token"],
                        **channel}}


class Api:
    """The connectors app with two trusts and an LA."""

    def __init__(self, tmp_path: Path) -> None:
        self.publisher = InMemoryPublisher()
        credentials = InMemoryCredentialStore()
        self.tokens: dict[str, str] = {}
        for who, (kind, system, value) in WHO.items():
            credential, token = new_credential(system, value, kind)
            credentials.add(credential)
            self.tokens[who] = token
        self.engine = open_engine(f"sqlite:///{tmp_path / 'readmodel.sqlite3'}")
        store.create_tables(self.engine)  # as the production app's start-up does
        self.clock = FixedClock(at(2026, 3, 2, 9))
        app = create_app(Settings(pseudonym_key="p" * 32), Ports(  # type: ignore[arg-type]
            publisher=self.publisher, docstore=InMemoryDocumentStore(),
            credentials=credentials, clock=self.clock, readmodel=self.engine))
        self.client = TestClient(app)

    def call(self, method: str, path: str, who: str | None, body: Any = None) -> Response:
        """``method path`` as ``who`` (None: no credential)."""
        headers = {"content-type": FHIR}
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        content = None if body is None else (body if isinstance(body, bytes)
                                             else json.dumps(body).encode())
        return self.client.request(method, path, headers=headers, content=content)

    def refusals(self) -> list[dict[str, Any]]:
        """AccessRefused audit records published so far."""
        return [dict(e.record) for e in self.publisher.events
                if e.topic == AUDIT.name and e.schema_name == records.ACCESS_REFUSED]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The app over a fresh SQLite file."""
    api = Api(tmp_path)
    yield api
    api.engine.dispose()


def test_a_trust_creates_reads_and_deletes_its_subscription(api: Api) -> None:
    """201 with a Location; the read shows it active without the header's value; DELETE ends it."""
    made = api.call("POST", "/fhir/Subscription", "trust", subscription())
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["status"], body["criteria"]) == ("active", "Task?owner=RVV")
    assert made.headers["location"].endswith(f"/fhir/Subscription/{body['id']}")
    read = api.call("GET", f"/fhir/Subscription/{body['id']}", "trust")
    assert read.status_code == 200
    assert read.json()["channel"]["endpoint"] == "https://ehr.rvv.example.nhs.uk/fhir"
    assert "trust-own-token" not in read.text
    (stored,) = store.all_fhir_subscriptions(api.engine)
    assert stored.headers == (("Authorization", "Bearer trust-own-token"),)
    assert api.call("DELETE", f"/fhir/Subscription/{body['id']}", "trust").status_code == 204
    assert store.all_fhir_subscriptions(api.engine) == []
    assert api.call("GET", f"/fhir/Subscription/{body['id']}", "trust").status_code == 404


def test_another_trusts_criteria_is_refused_403_and_audited(api: Api) -> None:
    """Task?owner=RBZ from RVV's credential: 403 OperationOutcome, an AccessRefused event, nothing stored."""
    refused = api.call("POST", "/fhir/Subscription", "trust", subscription("Task?owner=RBZ"))
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"
    (event,) = api.refusals()
    assert (event["path"], event["agency"]["value"]) == ("/fhir/Subscription", "RVV")
    assert store.all_fhir_subscriptions(api.engine) == []


def test_another_trusts_subscription_is_not_found_for_read_and_delete(api: Api) -> None:
    """RBZ cannot read or delete RVV's subscription (404, as for one that does not exist)."""
    made = api.call("POST", "/fhir/Subscription", "trust", subscription()).json()
    for method in ("GET", "DELETE"):
        answer = api.call(method, f"/fhir/Subscription/{made['id']}", "other_trust")
        assert answer.status_code == 404, (method, answer.text)
    assert len(store.all_fhir_subscriptions(api.engine)) == 1


def test_no_credential_or_an_la_credential_is_refused(api: Api) -> None:
    """No bearer token: 401; an LA's credential has no fhir:read: 403."""
    assert api.call("POST", "/fhir/Subscription", None, subscription()).status_code == 401
    assert api.call("POST", "/fhir/Subscription", "la", subscription()).status_code == 403


@pytest.mark.parametrize(("body", "status", "where"), [
    (subscription(type="websocket"), 422, "Subscription.channel.type"),
    (subscription(type="email"), 422, "Subscription.channel.type"),
    (subscription("Patient?identifier=x"), 422, "Subscription.criteria"),
    (subscription("Task?owner=RVV&status=requested"), 422, "Subscription.criteria"),
    (subscription("Task?owner=not an ods code"), 422, "Subscription.criteria"),
    (subscription(endpoint="http://ehr.rvv.example.nhs.uk/fhir"), 422,
     "Subscription.channel.endpoint"),
    (subscription(endpoint="https://user:pw@ehr.rvv.example.nhs.uk/"), 422,
     "Subscription.channel.endpoint"),
    (subscription(endpoint="not a url"), 422, "Subscription.channel.endpoint"),
    (subscription(endpoint="https://" + "a" * 3000 + ".example"), 422,
     "Subscription.channel.endpoint"),
    (subscription(payload="application/xml"), 422, "Subscription.channel.payload"),
    (subscription(header=["Host: evil.example"]), 422, "Subscription.channel.header"),
    (subscription(header=["X-A: b\r\nX-Injected: c"]), 422, "Subscription.channel.header"),
    (subscription(header=["X: y"] * 11), 422, "Subscription.channel.header"),
    (subscription(header="Authorization: x"), 400, "Subscription.channel.header"),
    ({**subscription(), "channel": "rest-hook"}, 400, "Subscription.channel"),
    ({**subscription(), "resourceType": "Task"}, 400, "resourceType"),
    ({**subscription(), "end": "2027-01-01T00:00:00Z"}, 422, "Subscription.end"),
])
def test_bad_subscriptions_get_an_operation_outcome(api: Api, body: dict[str, Any], status: int,
                                                    where: str) -> None:
    """Each bad input is a 400/422 OperationOutcome naming where, and nothing is stored."""
    answer = api.call("POST", "/fhir/Subscription", "trust", body)
    assert answer.status_code == status, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert where in json.dumps(outcome)
    assert store.all_fhir_subscriptions(api.engine) == []


def test_deep_nesting_and_huge_bodies_are_refused(api: Api) -> None:
    """A deeply nested or over-large body gets a clear 4xx, never a 500."""
    head = json.dumps(subscription())[:-1]
    deep = (head + ', "reason": ' + "[" * 5000 + '"x"' + "]" * 5000 + "}").encode()
    nested = api.call("POST", "/fhir/Subscription", "trust", deep)
    assert 400 <= nested.status_code < 500, nested.text
    huge = api.call("POST", "/fhir/Subscription", "trust",
                    {**subscription(), "reason": "r" * 2_000_000})
    assert huge.status_code in (400, 413, 422), huge.text


def test_the_capability_statement_lists_subscription(api: Api) -> None:
    """/fhir/metadata names Subscription with create, read and delete."""
    statement = api.call("GET", "/fhir/metadata", None).json()
    (sub,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Subscription"]
    assert {i["code"] for i in sub["interaction"]} == {"create", "read", "delete"}


def test_each_change_is_queued_once_and_sent_as_the_task(api: Api) -> None:
    """A new Task and its acceptance are two deliveries, replaying both queues nothing new, another trust's Task none; the notifier PUTs each Task to [endpoint]/Task/[id] with the header."""
    made = api.call("POST", "/fhir/Subscription", "trust", subscription()).json()
    later = at(2026, 3, 2, 10)
    tasks = PushingTaskStore(InMemoryTaskStore(), TaskPusher(api.engine, api.clock))
    early = advice_request("REQ-OLD-1", owner="RVV")
    tasks.add(early, at=at(2026, 3, 2, 8))  # before the subscription: not sent
    request = advice_request("REQ-SUB-1", owner="RVV")
    tasks.add(request, at=later)
    tasks.add(advice_request("REQ-SUB-2", owner="RBZ"), at=later)
    task_id = task_id_for("REQ-SUB-1")
    tasks.set_status(task_id, "accepted", None, None, later + timedelta(minutes=5))
    # The same again, as a connector replaying Kafka after a restart would:
    replay = PushingTaskStore(InMemoryTaskStore(), TaskPusher(api.engine, api.clock))
    replay.add(request, at=later)
    replay.set_status(task_id, "accepted", None, None, later + timedelta(minutes=5))
    queued = store.deliveries_with(api.engine, store.QUEUED)
    assert len(queued) == 2
    assert {d.subscription_id for d in queued} == {made["id"]}
    hooks = FakeRestHookSender()
    notifier = Notifier(api.engine, email=FakeEmailSender(), webhooks=FakeWebhookSender(),
                        clock=api.clock, calendar=Calendar(),
                        config=NotifierConfig(instance_id="t"), rest_hooks=hooks)
    assert len(notifier.dispatch().sent) == 2
    assert {h.url for h in hooks.sent} == {f"https://ehr.rvv.example.nhs.uk/fhir/Task/{task_id}"}
    statuses = sorted(json.loads(h.body)["status"] for h in hooks.sent)
    assert statuses == ["accepted", "requested"]
    assert all(dict(h.headers)["Authorization"] == "Bearer trust-own-token" for h in hooks.sent)
    assert notifier.dispatch().sent == []


def test_a_refusing_endpoint_is_dead_lettered_and_a_failing_one_retried(api: Api) -> None:
    """A 404 from the endpoint fails at once (the dead letter); a 503 is retried later."""
    api.call("POST", "/fhir/Subscription", "trust", subscription())
    tasks = PushingTaskStore(InMemoryTaskStore(), TaskPusher(api.engine, api.clock))
    tasks.add(advice_request("REQ-FAIL-1", owner="RVV"), at=at(2026, 3, 2, 10))
    tasks.add(advice_request("REQ-FAIL-2", owner="RVV"), at=at(2026, 3, 2, 10))
    hooks = FakeRestHookSender(failure=lambda h: DeliveryError(
        "rest-hook endpoint answered 404" if "REQ-FAIL-1" in h.url else "answered 503",
        transient="REQ-FAIL-2" in h.url))
    notifier = Notifier(api.engine, email=FakeEmailSender(), webhooks=FakeWebhookSender(),
                        clock=api.clock, calendar=Calendar(), jitter=lambda: 0.5,
                        config=NotifierConfig(instance_id="t"), rest_hooks=hooks)
    report = notifier.dispatch()
    assert (len(report.failed), len(report.retrying)) == (1, 1)
    (dead,) = store.deliveries_with(api.engine, store.FAILED)
    assert dead.channel == "rest-hook"
    assert store.counts(api.engine)[("rest-hook", store.QUEUED)] == 1
