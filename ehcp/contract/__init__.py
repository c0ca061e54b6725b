"""The event contract between agencies: Avro schemas, wire framing, CloudEvents headers, topics."""
