"""Bad bytes and bad records raise the right :mod:`ehcp.errors` type, never a fastavro error."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from ehcp.contract.avro import HEADER_LEN, MAGIC, AvroCodec
from ehcp.errors import ContractError, MalformedMessageError, UnknownSchemaError

from .records import ALERT, NS

ALERT_NAME = f"{NS}.Alert"


@pytest.fixture
def message(codec: AvroCodec) -> bytes:
    """A valid Alert message."""
    return codec.encode(ALERT_NAME, ALERT)


def test_valid_message_decodes(codec: AvroCodec, message: bytes) -> None:
    """The control case: an untouched message decodes without error."""
    assert codec.decode(message) == (ALERT_NAME, ALERT)


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda m: m[:-5], id="truncated-body"),
        pytest.param(lambda m: m[:-1], id="last-byte-missing"),
        pytest.param(lambda m: m[:HEADER_LEN], id="header-without-body"),
        pytest.param(lambda m: m[:HEADER_LEN] + b"\xfe\xff\xff\xff\x0f" + m[HEADER_LEN + 1:],
                     id="string-length-past-the-end"),
        pytest.param(lambda m: m[:HEADER_LEN] + bytes(range(200, 256)) * 3, id="garbage-body"),
        pytest.param(lambda m: m.replace(b"reg 8(1)", b"\xffeg 8(1)"), id="invalid-utf8"),
    ],
)
def test_corrupt_body_is_malformed(
    codec: AvroCodec, message: bytes, corrupt: Callable[[bytes], bytes]
) -> None:
    """A body that is not a valid Avro Alert raises MalformedMessageError chained to the cause."""
    with pytest.raises(MalformedMessageError, match=r"corrupt .*Alert body") as info:
        codec.decode(corrupt(message))
    assert info.value.__cause__ is not None


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xc3", id="half-marker"),
        pytest.param(b"\xc3\x01\x00\x00", id="header-cut-short"),
        pytest.param(b'{"alert_id": "a-1"}', id="json"),
    ],
)
def test_bytes_without_the_marker_are_malformed(codec: AvroCodec, data: bytes) -> None:
    """Bytes that are not single-object encoded raise MalformedMessageError naming the marker."""
    with pytest.raises(MalformedMessageError, match="C3 01"):
        codec.decode(data)


def test_wrong_marker_before_a_valid_body_is_malformed(codec: AvroCodec, message: bytes) -> None:
    """A valid fingerprint and body behind a wrong marker is still refused."""
    with pytest.raises(MalformedMessageError, match="C3 01"):
        codec.decode(b"\xc3\x00" + message[2:])


def test_unknown_fingerprint_is_unknown_schema(codec: AvroCodec, message: bytes) -> None:
    """A header naming a schema this build does not hold raises UnknownSchemaError with its hex."""
    data = MAGIC + bytes.fromhex("0123456789abcdef") + message[HEADER_LEN:]
    with pytest.raises(UnknownSchemaError, match="0123456789abcdef"):
        codec.decode(data)


def test_trailing_bytes_are_malformed(codec: AvroCodec, message: bytes) -> None:
    """Bytes after a complete body mean the framing is wrong, so the message is refused."""
    with pytest.raises(MalformedMessageError, match="trailing bytes"):
        codec.decode(message + b"\x00")


def test_record_of_another_type_than_expected_is_a_contract_error(
    codec: AvroCodec, message: bytes
) -> None:
    """Decoding an Alert where a CaseTick is expected raises ContractError naming both."""
    with pytest.raises(ContractError, match=r"expected .*CaseTick.*Alert") as info:
        codec.decode(message, expected=f"{NS}.CaseTick")
    assert not isinstance(info.value, MalformedMessageError | UnknownSchemaError)


def _without(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda record: record.pop(name)


def _with(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda record: record.__setitem__(name, value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param(_without("message"), "message", id="required-field-missing"),
        pytest.param(_with("days_overdue", "3"), "days_overdue", id="string-for-int"),
        pytest.param(_with("kind", "LATE"), "kind", id="unknown-enum-symbol"),
        pytest.param(_with("status", None), "status", id="null-for-enum"),
        pytest.param(_with("agency", {"system": "x"}), "agency", id="incomplete-nested-record"),
        # fastavro's writer alone would encode this one: only the validation (run on every
        # record, its wording only for failures) refuses it.
        pytest.param(_with("days_overdue", 2**40), "days_overdue", id="int-out-of-range"),
        pytest.param(_with("due_on", 3.5), "due_on", id="no-union-branch-fits"),
    ],
)
def test_record_not_fitting_the_schema_is_a_contract_error(
    codec: AvroCodec, change: Callable[[dict[str, Any]], None], field: str
) -> None:
    """Encoding a record that breaks its schema raises ContractError naming the field."""
    record = copy.deepcopy(ALERT)
    change(record)
    with pytest.raises(ContractError, match=field) as info:
        codec.encode(ALERT_NAME, record)
    assert not isinstance(info.value, MalformedMessageError | UnknownSchemaError)
    assert info.value.__cause__ is not None


def test_encoding_an_unknown_record_name_is_unknown_schema(codec: AvroCodec) -> None:
    """Asking for a record the schemas do not define raises UnknownSchemaError."""
    with pytest.raises(UnknownSchemaError, match="AlertEscalated"):
        codec.encode(f"{NS}.AlertEscalated", ALERT)
