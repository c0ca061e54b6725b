"""The health connector: a small FHIR R4 server for NHS organisations.

Health bodies submit advice as ``DocumentReference`` (alone, or in a transaction ``Bundle`` with
the completed ``Task``), read their advice requests as ``Task`` and update their status. The
project's own profile is ``docs/fhir-profile.md``.

Layout (pure modules import no FastAPI):

- :mod:`connectors.fhir.codes`: code systems, identifier systems and value sets.
- :mod:`connectors.fhir.errors`: the connector's error types (all under ``ehcp.errors``).
- :mod:`connectors.fhir.parsing`: JSON and structural (fhir.resources R4B) validation.
- :mod:`connectors.fhir.advice`: DocumentReference -> ``AdviceSubmitted`` record (pure).
- :mod:`connectors.fhir.tasks`: ``AdviceRequested`` record -> Task, Task status updates (pure).
- :mod:`connectors.fhir.bundles`: transaction, transaction-response and searchset Bundles (pure).
- :mod:`connectors.fhir.capability`: the CapabilityStatement (pure).
- :mod:`connectors.fhir.ports`: ledger, task store, task events and url fetcher ports + fakes.
- :mod:`connectors.fhir.service`: the use cases, calling the ports (no FastAPI).
- :mod:`connectors.fhir.outcome`: OperationOutcome and ``error_response`` (HTTP edge).
- :mod:`connectors.fhir.router`: ``router``, the thin FastAPI handlers (module level).
"""
