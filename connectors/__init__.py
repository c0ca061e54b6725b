"""Agency connectors: HTTP adapters that turn each agency's language into contract events.

Handlers are thin: authenticate, validate and map with pure functions, publish through the
:class:`~connectors.ports.EventPublisher` port, answer. A 2xx means the event is durably in Kafka.
"""
