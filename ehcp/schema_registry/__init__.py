"""The Confluent-compatible schema registry: an HTTP client (the codec's ``SchemaIds``), the codec
built from settings, and a local Apicurio Registry for development and tests."""
