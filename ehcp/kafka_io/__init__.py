"""Kafka I/O of the core: client configuration, readers, dead letters and the local broker."""
