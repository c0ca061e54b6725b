"""EHCP Exchange: an integration broker for England's EHC plan process.

The core package; ``lint-imports`` (pyproject.toml) keeps it from importing its users:

- ``ehcp.casework``, ``ehcp.identifiers``, ``ehcp.routing``: pure domain rules (no I/O imports).
- ``ehcp.contract``: the Avro event contract, CloudEvents headers, keys, the topic catalogue and
  the record names (``records``).
- ``ehcp.kafka_io``: Kafka clients, readers, dead letters and the local broker launcher.
- ``ehcp.settings``, ``ehcp.clock``, ``ehcp.logs``, ``ehcp.errors``: what every process shares.
- top-level ``streams`` (Faust agents) and ``connectors`` (agency HTTP adapters) use the above;
  top-level ``cli`` (the ``ehcp`` command) is the composition root over all of them.
"""

__version__ = "0.1.0"
