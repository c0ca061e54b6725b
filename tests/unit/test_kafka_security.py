"""Client security settings and the secured broker's files and configuration (no broker needed)."""

from __future__ import annotations

import secrets
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ehcp.contract.access import expected_grants
from ehcp.errors import ConfigurationError
from ehcp.kafka_io.acls import BrokerAcl, compare_acls
from ehcp.kafka_io.broker.local import BrokerConfig, LocalBroker
from ehcp.kafka_io.broker.tls import ensure_tls
from ehcp.kafka_io.kafka_clients import aiokafka_config, kafka_python_config
from ehcp.settings import Settings


def _settings(tmp_path: Path, **fields: object) -> Settings:
    return Settings(**fields)  # type: ignore[arg-type]


def test_plaintext_has_no_tls_and_no_sasl(tmp_path: Path) -> None:
    """PLAINTEXT (the local default) passes neither a TLS context nor credentials."""
    config = kafka_python_config(_settings(tmp_path))
    assert config["security_protocol"] == "PLAINTEXT"
    assert "ssl_context" not in config
    assert "sasl_plain_password" not in config


def test_sasl_ssl_verifies_the_broker_by_default(tmp_path: Path) -> None:
    """SASL_SSL gets a context that checks the certificate and the host name, for both clients."""
    files = ensure_tls(tmp_path / "tls")
    settings = _settings(tmp_path, kafka_security_protocol="sasl_ssl",
                         kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="ehcp-worker",
                         kafka_sasl_password=secrets.token_urlsafe(), kafka_ssl_cafile=files.ca_cert)
    for config in (kafka_python_config(settings), aiokafka_config(settings)):
        context = config["ssl_context"]
        assert context.verify_mode is ssl.CERT_REQUIRED
        assert context.check_hostname is True
        assert config["security_protocol"] == "SASL_SSL"
        assert config["sasl_mechanism"] == "SCRAM-SHA-512"
        assert config["sasl_plain_username"] == "ehcp-worker"


def test_ssl_without_a_ca_file_trusts_the_system_cas_and_still_verifies(tmp_path: Path) -> None:
    """No EHCP_KAFKA_SSL_CAFILE: the system's CAs, never an unverified connection."""
    context = kafka_python_config(_settings(tmp_path, kafka_security_protocol="SSL"))["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True


@pytest.mark.parametrize(("fields", "named"), [
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512",
      "kafka_sasl_username": "u"}, "EHCP_KAFKA_SASL_PASSWORD"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u",
      "kafka_sasl_password": "p"}, "EHCP_KAFKA_SASL_MECHANISM"),
    ({"kafka_security_protocol": "TLS"}, "EHCP_KAFKA_SECURITY_PROTOCOL"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nonexistent/ca.pem"},
     "EHCP_KAFKA_SSL_CAFILE"),
])
def test_inconsistent_security_settings_name_the_variable(
    tmp_path: Path, fields: dict[str, object], named: str
) -> None:
    """A missing password or mechanism, an unknown protocol or an unreadable CA file is refused."""
    with pytest.raises(ConfigurationError, match=named):
        kafka_python_config(_settings(tmp_path, **fields))


def test_the_local_ca_and_broker_key_are_private_and_the_certificate_names_loopback(
    tmp_path: Path,
) -> None:
    """Keys are mode 0600; the broker certificate is signed by the CA and names 127.0.0.1."""
    files = ensure_tls(tmp_path / "tls")
    for key in (files.ca_key, files.broker_pem):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    broker = x509.load_pem_x509_certificates(files.broker_pem.read_bytes())[0]
    public = ca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    broker.verify_directly_issued_by(ca)
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    again = ensure_tls(tmp_path / "tls")  # kept: clients' CA file stays valid across restarts
    assert again.ca_cert.read_bytes() == files.ca_cert.read_bytes()


def test_a_secured_broker_denies_by_default_and_keeps_passwords_private(tmp_path: Path) -> None:
    """StandardAuthorizer, no ACL means no access, SASL_SSL only, passwords in 0600 files."""
    broker = LocalBroker(BrokerConfig(home=tmp_path / "home", port=1, controller_port=2,
                                      secure=True), tmp_path / "cache")
    props = broker.config.server_properties(broker.passwords()["ehcp-admin"])
    assert "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" in props
    assert "allow.everyone.if.no.acl.found=false" in props
    assert "PLAINTEXT://" not in props
    assert "User:ANONYMOUS" not in props
    assert "listener.name.controller.ssl.client.auth=required" in props
    assert stat.S_IMODE(broker.users_file.stat().st_mode) == 0o600
    env = broker.client_env("ehcp-worker")
    assert env["EHCP_KAFKA_SASL_USERNAME"] == "ehcp-worker"
    assert env["EHCP_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["EHCP_KAFKA_SASL_PASSWORD"] != broker.client_env()["EHCP_KAFKA_SASL_PASSWORD"]


def test_the_acl_comparison_reports_a_widened_grant_and_a_missing_one() -> None:
    """A prefixed, wildcard or ALL variant of a grant is unexpected; a dropped grant is missing."""
    expected = expected_grants("app", "grp")
    held = frozenset(BrokerAcl.of(g) for g in expected)
    assert compare_acls(held, expected).ok
    one = sorted(held)[0]
    for wider in (
        BrokerAcl(one.principal, "TOPIC", "ehcp.", "PREFIXED", "READ", "ALLOW", "*"),
        BrokerAcl(one.principal, "TOPIC", "*", "LITERAL", "READ", "ALLOW", "*"),
        BrokerAcl(one.principal, one.resource, one.name, "LITERAL", "ALL", "ALLOW", "*"),
    ):
        drift = compare_acls(held | {wider}, expected)
        assert drift.unexpected == {wider}
        assert not drift.ok
    assert compare_acls(held - {one}, expected).missing == {one}
