"""The workspace read model: Kafka topics projected into SQL tables (see docs/readmodel.md).

``tables`` declares the tables (SQLAlchemy Core), ``mapping`` turns records into rows (pure: no
database, no Kafka), ``store`` writes rows and the consumed offsets in one transaction. The loop
that reads Kafka is ``ehcp.kafka_io.projector``.
"""
