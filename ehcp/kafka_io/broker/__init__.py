"""A real single-node Apache Kafka broker (KRaft combined mode) assembled from Maven Central."""
