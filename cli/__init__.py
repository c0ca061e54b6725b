"""The ``ehcp`` command and the composition root: one group per area (kafka, topics, worker, ...).

It may import every layer (``ehcp``, ``streams``, ``connectors``); nothing imports it. Also here:
the worker supervisor, the local development environment and the demo case of ``ehcp dev``.
"""
