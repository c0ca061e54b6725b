"""The stream stages as pure functions: records in, state and records to send out."""
