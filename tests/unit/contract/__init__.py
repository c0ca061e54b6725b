"""Unit tests of the Avro contract: wire format, fingerprints, compatibility, CloudEvents."""
