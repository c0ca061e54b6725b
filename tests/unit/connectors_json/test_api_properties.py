"""Property-based contract test: schemathesis generates requests from the OpenAPI document.

Every JSON API operation, fed inputs generated from its own schema (valid and invalid, with a
valid token), must never answer 5xx. The app is built through the production factory with fakes.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.settings import Settings

_credentials = InMemoryCredentialStore()
_credential, TOKEN = new_credential(LA_CODE_SYSTEM, "999", "education")
_credentials.add(_credential)
_sc_credential, SC_TOKEN = new_credential(LA_CODE_SYSTEM, "999", "social_care")
_credentials.add(_sc_credential)
APP = create_app(Settings(pseudonym_key="p" * 32),
                 Ports(publisher=InMemoryPublisher(), docstore=InMemoryDocumentStore(),
                       credentials=_credentials))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_5xx(case: schemathesis.Case) -> None:
    """Whatever the generated body, path or query, the API answers below 500."""
    token = SC_TOKEN if "/social-care/" in case.path else TOKEN
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, response.text
