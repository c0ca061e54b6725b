"""EHCP Exchange: an integration broker for England's EHC plan process.

The package is layered so the folders show the architecture:

- ``ehcp.casework``, ``ehcp.identifiers``: pure domain rules (no I/O imports).
- ``ehcp.contract``: the Avro event contract, CloudEvents headers and the topic catalogue.
- ``ehcp.kafka_io.broker``: the local Apache Kafka broker assembled from Maven Central.
- ``ehcp.cli``: the ``ehcp`` command.
- top-level ``streams`` (Faust agents) and ``connectors`` (agency HTTP adapters) use the above.
"""

__version__ = "0.1.0"
