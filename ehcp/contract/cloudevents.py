"""CloudEvents 1.0 Kafka protocol binding, binary mode: the attributes travel as ``ce_`` headers.

The value stays the Avro single-object-encoded record; ``content-type`` says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from ehcp.errors import MalformedMessageError

SPEC_VERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/avro"
REQUIRED: Final = ("ce_specversion", "ce_id", "ce_source", "ce_type")


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """The CloudEvents attributes of one Kafka record."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers in binary content mode."""
        return [
            ("ce_specversion", SPEC_VERSION.encode()),
            ("ce_id", self.id.encode()),
            ("ce_source", self.source.encode()),
            ("ce_type", self.type.encode()),
            ("ce_time", self.time.astimezone(UTC).isoformat().replace("+00:00", "Z").encode()),
            ("ce_subject", self.subject.encode()),
            ("content-type", CONTENT_TYPE.encode()),
        ]

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes | None]]) -> CloudEvent:
        """Read the attributes back from Kafka headers.

        Raises:
            MalformedMessageError: if a required attribute is missing or the version is not 1.0.
        """
        found = {k: (v or b"").decode() for k, v in headers}
        missing = [k for k in REQUIRED if k not in found]
        if missing:
            raise MalformedMessageError(f"missing CloudEvents headers: {', '.join(missing)}")
        if found["ce_specversion"] != SPEC_VERSION:
            raise MalformedMessageError(
                f"unsupported CloudEvents version {found['ce_specversion']}"
            )
        time_text = found.get("ce_time", "").replace("Z", "+00:00")
        try:
            time = (
                datetime.fromisoformat(time_text) if time_text else datetime.fromtimestamp(0, UTC)
            )
        except ValueError as exc:
            raise MalformedMessageError("ce_time is not RFC 3339") from exc
        return cls(
            id=found["ce_id"],
            source=found["ce_source"],
            type=found["ce_type"],
            time=time,
            subject=found.get("ce_subject", ""),
        )


def event_type(full_name: str) -> str:
    """The CloudEvents ``type`` of a record, e.g. ``org.ehcpexchange.advice.submitted.v1``.

    ``org.ehcpexchange.events.AdviceSubmitted`` gives ``org.ehcpexchange.advice.submitted.v1``:
    the record name split into lower-case words, plus the major contract version.
    """
    name = full_name.rsplit(".", 1)[-1]
    words = re.findall(r"[A-Z][a-z0-9]*", name)
    return "org.ehcpexchange." + ".".join(w.lower() for w in words) + ".v1"
