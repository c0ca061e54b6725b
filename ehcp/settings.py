"""The one typed, frozen settings object, read from the environment once.

Every field's environment variable is ``EHCP_`` + the field name in capitals (for example
``EHCP_KAFKA_BOOTSTRAP``). ``docs/configuration.md`` lists them all. There are no secret
defaults: the pseudonym key must be set for the worker and connectors (``ehcp dev`` generates
one for a local run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ehcp.errors import ConfigurationError


class Settings(BaseSettings):
    """EHCP Exchange configuration (environment variables ``EHCP_*``)."""

    model_config = SettingsConfigDict(env_prefix="EHCP_", frozen=True, extra="ignore")

    # Kafka
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Comma-separated host:port list of Kafka brokers."
    )
    kafka_security_protocol: str = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: str | None = Field(
        None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with a SASL_* protocol)."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password.")
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle to verify brokers (TLS).")
    partitions: int = Field(
        4, ge=1, description="Partitions of every case-keyed topic (must not shrink later)."
    )
    replication_factor: int = Field(1, ge=1, description="Replicas per topic (3 in production).")
    min_insync_replicas: int = Field(1, ge=1, description="min.insync.replicas for topics.")
    publish_timeout_s: float = Field(
        10.0, gt=0, description="How long a connector waits for acks=all before answering 503."
    )
    topic_retention_ms: dict[str, int] = Field(
        default_factory=dict,
        description="Per-topic retention.ms overrides of the catalogue's (JSON object, topic -> "
        'milliseconds, -1 forever, e.g. {"ehcp.alerts.v1": 2592000000}); applied by '
        "`ehcp topics apply`. Only topics with cleanup.policy=delete (docs/contract.md).",
    )

    # Schema registry (docs/contract.md, "Wire formats")
    schema_wire_format: Literal["single-object", "confluent"] = Field(
        "single-object",
        description="Wire format the connectors and the worker write: Avro single-object encoding "
        "(C3 01 + schema fingerprint) or the Confluent format (00 + registry schema id, needs "
        "EHCP_SCHEMA_REGISTRY_URL). Readers take both whatever this says.",
    )
    schema_wire_format_topics: dict[str, Literal["single-object", "confluent"]] = Field(
        default_factory=dict,
        description="Per-topic overrides of EHCP_SCHEMA_WIRE_FORMAT (JSON object, topic -> "
        'format, e.g. {"ehcp.alerts.v1": "confluent"}), to move writers one topic at a time.',
    )
    schema_registry_url: str | None = Field(
        None,
        description="Base URL of a Confluent-compatible schema registry API, e.g. "
        "http://registry:8080/apis/ccompat/v7 (Apicurio). Needed to write, or to read, the "
        "Confluent format.",
    )
    schema_registry_username: str | None = Field(
        None, description="HTTP basic user for the schema registry (none: no authentication)."
    )
    schema_registry_password: SecretStr | None = Field(
        None, description="Password of EHCP_SCHEMA_REGISTRY_USERNAME."
    )
    schema_registry_ca_file: Path | None = Field(
        None, description="PEM CA bundle to verify an https registry (default: the system CAs)."
    )
    schema_registry_timeout_s: float = Field(
        5.0, gt=0, description="Give up one schema registry request after this many seconds."
    )

    # Streams (Faust)
    app_id: str = Field("ehcp-streams", description="Faust app id = consumer group id.")
    store: str = Field("memory://", description="Faust table store (memory:// or rocksdb://).")
    data_dir: Path = Field(Path(".ehcp/data"), description="Worker state (Faust data folder).")
    alert_tick_s: float = Field(60.0, gt=0, description="How often the alert timer runs.")
    stall_check_s: float = Field(
        15.0, gt=0, description="How often a worker checks its input partitions for stalls."
    )
    static_membership: bool = Field(
        True,
        description="Supervised workers join the consumer group as static members (one "
        "group.instance.id per worker slot), so a restarted worker gets its partitions back at "
        "once instead of after the session timeout.",
    )
    group_instance_id: str | None = Field(
        None,
        description="This worker process's group.instance.id. Set by `ehcp worker`'s supervisor "
        "per worker slot; set it yourself only if you run the worker unsupervised, and never give "
        "two running workers the same id (they would fence each other out of the group).",
    )
    session_timeout_s: float = Field(
        30.0,
        ge=6,
        le=90,
        description="Consumer group session timeout: a worker silent for this long loses its "
        "partitions (a dynamic member that died, or a static member that does not come back).",
    )
    heartbeat_interval_s: float = Field(
        3.0, gt=0, description="How often a worker heartbeats to the group coordinator."
    )
    producer_linger_ms: int = Field(
        5,
        ge=0,
        le=1000,
        description="How long a worker's producer waits to batch outputs into one request.",
    )

    # Workspace read model
    readmodel_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the workspace read model: sqlite:///path or "
        "postgresql+psycopg://user:password@host/db (secret: it may hold a password). Default: "
        "a SQLite file readmodel.sqlite3 in the data folder (EHCP_DATA_DIR).",
    )

    # Workspace web app
    workspace_host: str = Field(
        "127.0.0.1", description="Interface the workspace web app listens on."
    )
    workspace_port: int = Field(8090, description="Port of the workspace web app.")
    workspace_plain_http: bool = Field(
        False,
        description="Serve the workspace over plain http and send its session cookie without the "
        "Secure flag. Only for a local development run on 127.0.0.1 (`ehcp dev` sets it); "
        "otherwise give EHCP_TLS_CERTFILE and EHCP_TLS_KEYFILE.",
    )
    workspace_session_idle_s: int = Field(
        1800, gt=0, description="A workspace session unused for this long ends (sign in again)."
    )
    workspace_session_max_s: int = Field(
        43200, gt=0, description="A workspace session ends this long after sign-in, used or not."
    )
    workspace_lockout_failures: int = Field(
        5, ge=1, description="Failed sign-ins in a row after which a workspace account is locked."
    )
    workspace_lockout_s: int = Field(
        900, gt=0, description="How long a locked workspace account stays locked."
    )

    # Notifications (`ehcp notify`, docs/notifications.md)
    notify_group_id: str = Field(
        "ehcp-notify", description="Consumer group of the notifiers (more notifiers, same group, "
        "split the cases between them)."
    )
    notify_instance_id: str | None = Field(
        None,
        description="This notifier's name on the deliveries it claims. Default: a slot claimed on "
        "this host (`ehcp-notify-<host>-<n>`), so a restarted notifier takes its own claims back "
        "at once. Never give two running notifiers the same id.",
    )
    notify_poll_s: float = Field(
        2.0, gt=0, description="How often an idle notifier looks for due deliveries and digests."
    )
    notify_retry_base_s: float = Field(
        30.0, gt=0, description="First retry of a failed delivery after about this long "
        "(doubling each attempt, with jitter)."
    )
    notify_retry_cap_s: float = Field(
        3600.0, gt=0, description="Longest wait between two attempts of a delivery."
    )
    notify_retry_for_s: float = Field(
        86400.0, gt=0, description="A delivery still failing this long after it was queued is "
        "dead-lettered (`ehcp notify failed`)."
    )
    notify_lease_s: float = Field(
        300.0, gt=0, description="How long a claimed delivery is one notifier's alone; a "
        "notifier that died is replaced after this (at once if it restarts with its own id)."
    )
    reminder_buffer_max: int = Field(
        10_000, ge=1, le=10_000_000, description="Reminder alerts a connector process keeps "
        "while their FHIR Task has not been read yet; beyond this the buffer is dropped and the "
        "alerts are read again from Kafka once a Task arrives (nothing is lost)."
    )
    notify_workspace_url: str | None = Field(
        None, description="Base URL of the workspace, for the case links in notifications "
        "(`<url>/cases/<case id>`); none: messages carry no link."
    )
    notify_webhook_timeout_s: float = Field(
        10.0, gt=0, description="Give up one webhook call after this many seconds."
    )
    notify_webhook_ca_file: Path | None = Field(
        None, description="PEM CA bundle for webhook endpoints (default: the system CAs)."
    )
    notify_webhook_allow_http: bool = Field(
        False, description="Allow http:// webhook endpoints (tests and local development only)."
    )
    smtp_host: str | None = Field(
        None, description="SMTP submission server for email notifications (none: email "
        "deliveries wait and fail after EHCP_NOTIFY_RETRY_FOR_S)."
    )
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port (587: submission).")
    smtp_starttls: bool = Field(
        True, description="Require STARTTLS (certificate verified) before AUTH and the message."
    )
    smtp_username: str | None = Field(None, description="SMTP AUTH user name (none: no AUTH).")
    smtp_password: SecretStr | None = Field(None, description="SMTP AUTH password.")
    smtp_from: str = Field(
        "ehcp-exchange@localhost", description="From address of notification emails."
    )
    smtp_ca_file: Path | None = Field(
        None, description="PEM CA bundle to verify the SMTP server (default: the system CAs)."
    )
    smtp_timeout_s: float = Field(30.0, gt=0, description="SMTP connect and reply timeout.")

    # Privacy
    pseudonym_key: SecretStr | None = Field(
        None,
        description="Secret for HMAC child keys (32+ random characters). Required by the worker "
        "and connectors; no default.",
    )

    # Connectors (HTTP)
    http_host: str = Field("127.0.0.1", description="Interface the connectors listen on.")
    http_port: int = Field(8080, description="Port of the connectors' HTTP server.")
    http_workers: int = Field(
        1, ge=1, le=64, description="Connector processes sharing the port (uvicorn workers)."
    )
    tls_certfile: Path | None = Field(None, description="Serve HTTPS with this certificate.")
    tls_keyfile: Path | None = Field(None, description="Private key for tls_certfile.")
    credentials_file: Path = Field(
        Path(".ehcp/credentials.json"), description="Hashed agency credentials."
    )
    documents_dir: Path = Field(
        Path(".ehcp/documents"), description="Content-addressed document store (filesystem)."
    )
    submissions_file: Path = Field(
        Path(".ehcp/fhir-submissions.jsonl"),
        description="Durable record of accepted FHIR submissions (retries get the same answer).",
    )
    connector_store_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of a PostgreSQL database (postgresql+psycopg://...; it may "
        "be the read model's) holding the FHIR submission ledger and the document store, shared "
        "by connector and workspace processes on several hosts (secret: it may hold a password). "
        "Unset: the files EHCP_SUBMISSIONS_FILE and EHCP_DOCUMENTS_DIR (one host).",
    )
    submission_cache_size: int = Field(
        10_000, ge=0, le=10_000_000,
        description="FHIR submission outcomes a connector process keeps in memory (least "
        "recently used dropped first); older ones are read back from the ledger.",
    )
    audit_spool_file: Path = Field(
        Path(".ehcp/audit-spool.jsonl"),
        description="AccessRefused audit events Kafka did not take; replayed at start-up.",
    )
    max_document_bytes: int = Field(
        10 * 1024 * 1024, gt=0, description="Largest advice document accepted (413 beyond)."
    )
    document_url_hosts: tuple[str, ...] = Field(
        (), description="Hosts a document url may point at (JSON list); empty: urls refused."
    )
    document_fetch_timeout_s: float = Field(
        10.0, gt=0, description="Give up fetching a document url after this many seconds."
    )
    document_fetch_ca_file: Path | None = Field(
        None, description="PEM CA bundle for attachment hosts (default: the system CAs)."
    )

    # Metrics and readiness (docs/operations.md)
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token Prometheus must send to /metrics (at least 32 characters). "
        "Unset: /metrics answers 404 (metrics off).",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Interface `ehcp worker` serves its /metrics on."
    )
    worker_metrics_port: int | None = Field(
        None, ge=0, le=65535,
        description="Port `ehcp worker` serves /metrics (and /healthz) on; unset: none.",
    )

    # Logging
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_json: bool = Field(True, description="JSON lines (true) or console rendering (false).")
    log_repeat_interval_s: float = Field(
        60.0,
        gt=0,
        description="A repeated warning or error from the Kafka client libraries (e.g. a lost "
        "broker) is logged once, then at most once per this many seconds.",
    )

    @model_validator(mode="after")
    def _heartbeat_fits_session(self) -> Settings:
        # Kafka's advice: heartbeat at most a third of the session timeout, so that one lost
        # heartbeat does not cost a worker its partitions.
        if self.heartbeat_interval_s * 3 > self.session_timeout_s:
            raise ValueError(
                "EHCP_HEARTBEAT_INTERVAL_S must be at most a third of EHCP_SESSION_TIMEOUT_S"
            )
        return self

    @model_validator(mode="after")
    def _metrics_token_long_enough(self) -> Settings:
        if self.metrics_token is not None and len(self.metrics_token.get_secret_value()) < 32:
            raise ValueError("EHCP_METRICS_TOKEN must be at least 32 characters")
        return self

    @model_validator(mode="after")
    def _retention_is_forever_or_positive(self) -> Settings:
        bad = sorted(t for t, ms in self.topic_retention_ms.items() if ms == 0 or ms < -1)
        if bad:
            raise ValueError(
                f"EHCP_TOPIC_RETENTION_MS: retention must be -1 (forever) or > 0 ms: {bad}"
            )
        return self

    @model_validator(mode="after")
    def _confluent_needs_a_registry(self) -> Settings:
        confluent = self.schema_wire_format == "confluent" or (
            "confluent" in self.schema_wire_format_topics.values()
        )
        if confluent and not self.schema_registry_url:
            raise ValueError(
                "the Confluent wire format (EHCP_SCHEMA_WIRE_FORMAT or "
                "EHCP_SCHEMA_WIRE_FORMAT_TOPICS) needs EHCP_SCHEMA_REGISTRY_URL"
            )
        return self

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings from the environment (``EHCP_*``), once per process.

        Raises:
            ConfigurationError: naming every invalid variable and why, on one line.
        """
        try:
            return cls()  # type: ignore[call-arg]  # fields come from the environment
        except ValidationError as exc:
            problems = "; ".join(
                f"EHCP_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigurationError(f"invalid configuration: {problems}") from exc

    def readmodel_database_url(self) -> str:
        """The read model's database URL: ``EHCP_READMODEL_URL``, or SQLite in the data folder."""
        if self.readmodel_url is not None:
            return self.readmodel_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'readmodel.sqlite3').resolve()}"

    def pseudonym_key_bytes(self) -> bytes:
        """The pseudonym key as bytes for HMAC.

        Raises:
            ConfigurationError: if EHCP_PSEUDONYM_KEY is unset or shorter than 32 characters.
        """
        if self.pseudonym_key is None or len(self.pseudonym_key.get_secret_value()) < 32:
            raise ConfigurationError(
                "EHCP_PSEUDONYM_KEY must be set to a secret of at least 32 characters"
            )
        return self.pseudonym_key.get_secret_value().encode()
