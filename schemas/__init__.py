"""The Avro contract as data: one folder per record, one ``vN.avsc`` file per version.

Every version ever published stays here; ``tests/unit/contract`` proves full transitive
compatibility between all versions of each record. See ``docs/contract.md``.
"""

from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent
