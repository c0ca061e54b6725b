"""The ``ehcp`` command: one group per area (kafka, topics, worker, connectors, case, ...)."""
