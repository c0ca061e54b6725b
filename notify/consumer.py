"""The Kafka loop of ``ehcp notify run``: referrals, case statuses and alerts in, deliveries out.

The notifiers form one consumer group (``EHCP_NOTIFY_GROUP_ID``) over ``ehcp.referrals.v1``,
``ehcp.case-status.v1`` (compacted) and ``ehcp.alerts.v1``, all keyed by case id; the range
assignor gives each notifier the same partition numbers of every topic, so a case's records are
read by one notifier (the owner table and the hold for an unknown owner are in the shared
database, so this is an optimisation, not a requirement). A new group starts at the beginning
of every topic: the referrals teach it every case's first LA, the statuses (CaseStatus v4) the LA
a reg 15 transfer moved the case to; old alerts reach no subscription, which hears only about
transitions recorded after it was made. A notifier upgraded from one that read no statuses
reads the compacted status topic from its start (no committed offset for it) and so learns the
transfers made meanwhile.

Each batch is written to the database (one transaction), then its offsets are committed: a
notifier stopped in between reads the batch again, and the deterministic delivery ids make the
second reading queue nothing new.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

from ehcp.contract.avro import AvroCodec
from ehcp.contract.topics import ALERTS, CASE_STATUS, REFERRALS
from ehcp.errors import BrokerError
from ehcp.kafka_io.kafka_clients import kafka_python_config, unreachable
from ehcp.settings import Settings
from notify.service import Incoming, Notifier

log = structlog.get_logger(__name__)
TOPICS = (REFERRALS.name, CASE_STATUS.name, ALERTS.name)


def run(settings: Settings, notifier: Notifier, codec: AvroCodec, *,
        should_stop: Callable[[], bool] = lambda: False,
        monotonic: Callable[[], float] = time.monotonic) -> None:
    """Consume, record and send until ``should_stop`` (polled at least every half second).

    Raises:
        BrokerError: Kafka unreachable or refused a commit (the supervisor restarts us).
        ReadModelError: the database refused (likewise).
    """
    from kafka import ConsumerRebalanceListener, KafkaConsumer
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.errors import KafkaError

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # untyped library
        def on_partitions_revoked(self, revoked: Any) -> None:
            log.info("notify.partitions_revoked", partitions=_names(revoked))

        def on_partitions_assigned(self, assigned: Any) -> None:
            log.info("notify.partitions_assigned", partitions=_names(assigned))

    try:
        consumer: Any = KafkaConsumer(
            group_id=settings.notify_group_id,
            client_id="ehcp-notifier",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=[RangePartitionAssignor],
            session_timeout_ms=int(settings.session_timeout_s * 1000),
            heartbeat_interval_ms=int(settings.heartbeat_interval_s * 1000),
            **kafka_python_config(settings),
        )
        consumer.subscribe(list(TOPICS), listener=Listener())
    except (KafkaError, OSError) as exc:
        raise unreachable(settings, exc) from exc
    released = notifier.release_own_leases()
    log.info("notify.started", group_id=settings.notify_group_id, released_leases=released)
    last_pass = 0.0
    try:
        while not should_stop():
            polled = consumer.poll(timeout_ms=500, max_records=500)
            batch = [
                Incoming(tp.topic, tp.partition, r.offset, r.value, int(r.timestamp))
                for tp, records in polled.items() for r in records
            ]
            if batch:
                report = notifier.ingest(batch, codec)
                consumer.commit()
                log.debug("notify.batch", records=len(batch), queued=report.queued,
                          held=report.held, digest_items=report.digest_items)
            if batch or monotonic() - last_pass >= settings.notify_poll_s:
                notifier.close_digests()
                notifier.dispatch()
                last_pass = monotonic()
    except KafkaError as exc:
        raise BrokerError(f"notifier stopped: {type(exc).__name__}: {exc}") from exc
    finally:
        consumer.close()
        log.info("notify.stopped")


def _names(partitions: Any) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)
