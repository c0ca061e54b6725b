"""Fixtures of the contract tests: one codec over the project's schemas, built once."""

from __future__ import annotations

import pytest

from ehcp.contract.avro import AvroCodec, SchemaRegistry

from .avro_spec import SCHEMA_DIR


@pytest.fixture(scope="session")
def codec() -> AvroCodec:
    """The production codec over ``schemas/``."""
    return AvroCodec(SchemaRegistry(SCHEMA_DIR))
