"""The CapabilityStatement: exactly what this server supports, no more (pure)."""

from __future__ import annotations

from typing import Any

from connectors.fhir.codes import FHIR_JSON, FHIR_VERSION

_PROFILE_DOC = "docs/fhir-profile.md"


def capability_statement(*, base_url: str, date: str, software_version: str) -> dict[str, Any]:
    """The CapabilityStatement served at ``/fhir/metadata``.

    Args:
        base_url: the FHIR base, e.g. ``https://broker.example.org/fhir``.
        date: publication date (ISO date) of this statement.
        software_version: the EHCP Exchange version.
    """
    # Tokens are opaque per-organisation bearer tokens, not OAuth or SMART: no coding claims so.
    bearer = {"text": "Bearer token issued per organisation (not OAuth, not SMART on FHIR)"}
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "EHCP Exchange",
        "kind": "instance",
        "software": {"name": "EHCP Exchange health connector", "version": software_version},
        "implementation": {"description": "EHCP Exchange: advice for EHC needs assessments",
                           "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [{
            "mode": "server",
            "documentation": f"Profile: {_PROFILE_DOC}. JSON only; no XML, no _format; only "
                             "the LA's DocumentReference search pages (next link).",
            "security": {
                "cors": False,
                "service": [bearer],
                "description": (
                    "Every interaction except metadata needs 'Authorization: Bearer <token>' "
                    "issued per organisation (ehcp agencies); scopes fhir:read and fhir:write "
                    "(health), documents:read (local authorities)."
                ),
            },
            "resource": [
                {
                    "type": "DocumentReference",
                    "documentation": (
                        "Advice for an EHC needs assessment (reg 6 SEND Regulations 2014). "
                        "Create (conditional create by identifier); read and vread of version 1 "
                        "by the submitting organisation only, without the attachment's data. "
                        "A local authority (scope documents:read) searches and reads the advice "
                        "documents of its own cases: id = the advice event id, case in "
                        "context.related, attachment.url = the Binary with the bytes. "
                        "Update and delete are not supported."
                    ),
                    "interaction": [{"code": "create"}, {"code": "read"}, {"code": "vread"},
                                    {"code": "search-type"}],
                    "versioning": "versioned",
                    "readHistory": False,
                    "updateCreate": False,
                    "conditionalCreate": True,
                    "conditionalUpdate": False,
                    "conditionalDelete": "not-supported",
                    "searchParam": [
                        {"name": "subject", "type": "reference",
                         "documentation": "Local authorities only: the EHC case id, or "
                                          "https://ehcp-exchange.org/Id/ehc-case|<case id> "
                                          "(also as subject:identifier)."},
                        {"name": "_lastUpdated", "type": "date",
                         "documentation": "gt or ge and an instant with its UTC offset."},
                        {"name": "_count", "type": "number",
                         "documentation": "Page size; more than 200 is cut to 200. Further "
                                          "pages: follow the Bundle's next link."},
                    ],
                },
                {
                    "type": "Binary",
                    "documentation": (
                        "Local authorities only (scope documents:read): the advice document "
                        "whose SHA-256 is the id, as raw bytes with its content type, "
                        "Content-Length, ETag and Repr-Digest, or as a FHIR JSON Binary when "
                        "Accept asks for application/fhir+json. Every read is audited."
                    ),
                    "interaction": [{"code": "read"}],
                    "versioning": "no-version",
                    "readHistory": False,
                    "updateCreate": False,
                    "conditionalCreate": False,
                    "conditionalUpdate": False,
                    "conditionalDelete": "not-supported",
                },
                {
                    "type": "Task",
                    "documentation": (
                        "Advice requests addressed to the caller's organisation; requester is "
                        "the local authority (la-code identifier) when known. Update (PUT) and "
                        "patch (JSON Patch on /status, /statusReason and /output) change status "
                        "(accepted, rejected, completed), statusReason and, when completed, "
                        "output (a reference to advice DocumentReference the caller submitted) "
                        "only. Creating advice whose context.related names the Task completes "
                        "it, with output referencing the new DocumentReference. Create: the "
                        "owner of an advice request Task (an ICB's Designated Clinical Officer) "
                        "delegates a part of it to a provider as a sub-Task with partOf that "
                        "Task, code from https://ehcp-exchange.org/CodeSystem/health-service "
                        "and owner the provider's ODS code; the provider reads, updates and "
                        "completes only its own sub-Task, the delegating organisation reads it."
                    ),
                    "interaction": [{"code": "read"}, {"code": "update"}, {"code": "patch"},
                                    {"code": "search-type"}, {"code": "create"}],
                    "versioning": "versioned",
                    "readHistory": False,
                    "updateCreate": False,
                    "conditionalCreate": False,
                    "conditionalUpdate": False,
                    "conditionalDelete": "not-supported",
                    "searchParam": [
                        {"name": "owner", "type": "reference",
                         "documentation": "By ODS code: owner=<code>, owner=<system>|<code> or "
                                          "owner:identifier=<system>|<code>; must be the "
                                          "caller's organisation (default)."},
                        {"name": "status", "type": "token",
                         "documentation": "Task status code; comma-separated values are OR-ed."},
                        {"name": "_lastUpdated", "type": "date",
                         "documentation": "meta.lastUpdated (the request's arrival or its last "
                                          "status change); prefixes eq, gt, ge, lt, le; a day "
                                          "or an instant with its offset; repeat for a range."},
                        {"name": "_count", "type": "number",
                         "documentation": "Page size, 1 to 1000: pages ordered by "
                                          "(lastUpdated, id), a next link while more match."},
                    ],
                },
                {
                    "type": "Subscription",
                    "documentation": (
                        "Push instead of polling: channel.type rest-hook, channel.payload "
                        "application/fhir+json, criteria Task?owner=<the caller's ODS code> "
                        "only. Every new or changed Task of the caller's organisation is PUT "
                        "to [endpoint]/Task/[id] (https; channel.header sent with each call, "
                        "never shown again), retried with back-off on failure."
                    ),
                    "interaction": [{"code": "create"}, {"code": "read"}, {"code": "delete"}],
                    "versioning": "no-version",
                    "readHistory": False,
                    "updateCreate": False,
                    "conditionalCreate": False,
                    "conditionalUpdate": False,
                    "conditionalDelete": "not-supported",
                },
            ],
            "interaction": [{
                "code": "transaction",
                "documentation": "Only the Bundle of one DocumentReference (POST) and its "
                                 "completed Task (PUT).",
            }],
        }],
    }
