"""The JSON APIs' description: problem responses, and Swagger UI served without a CDN.

- :data:`PROBLEM_STATUSES` / :func:`problem_responses`: the error answers (RFC 9457 problem
  details, ``application/problem+json``) each JSON operation documents, with an example each;
- :func:`install_docs`: ``/docs`` (Swagger UI) with its JS, CSS and icon served by this app from
  the pinned ``fastapi-offline`` package, so the page works on a network without internet; and
  the ``Problem`` schema in the OpenAPI document's components.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Final

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
#: Where /docs finds its assets: Swagger UI 5 as shipped by fastapi-offline (pyproject.toml).
DOCS_ASSETS_PATH: Final = "/docs/assets"
#: The asset files served, with their content types; nothing else in the package is reachable.
DOCS_ASSETS: Final[dict[str, str]] = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}


class ProblemError(BaseModel):
    """One thing wrong with the request, located by JSON pointer; never the value sent."""

    location: str = Field(description="JSON pointer into the body, e.g. /child/nhs_number.")
    message: str = Field(description="What the contract expects (never echoes the input).")


class Problem(BaseModel):
    """An RFC 9457 problem details body."""

    model_config = ConfigDict(title="Problem")

    type: str = Field(description="Always about:blank: the status and title say it all.")
    title: str
    status: int = Field(description="The HTTP status, repeated.")
    detail: str
    errors: list[ProblemError] | None = Field(
        None, description="For 422 (and 400): each field that does not fit."
    )


def _example(status: int, title: str, detail: str, **more: Any) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, **more}


#: The error answers of a JSON API write, with what each means and an example body.
PROBLEM_STATUSES: Final[dict[int, tuple[str, dict[str, Any]]]] = {
    401: ("No or unknown bearer token (the answer carries WWW-Authenticate: Bearer).",
          _example(401, "Unauthorized", "invalid bearer token")),
    403: ("The credential may not use this endpoint, this LA code or this advice type.",
          _example(403, "Forbidden", "this credential may not use education:write")),
    404: ("No such resource for this credential (another agency's is not found either).",
          _example(404, "Not found", "no such advice request")),
    409: ("The request is already declined or completed and cannot change to that status.",
          _example(409, "Conflict", "the request is DECLINED and cannot become ACCEPTED")),
    413: ("The event would be larger than Kafka accepts on its topic, or an advice document is "
          "larger than EHCP_MAX_DOCUMENT_BYTES; retrying cannot help.",
          _example(413, "Event too large",
                   "the event would be larger than Kafka accepts on its topic; shorten the "
                   "identifiers and text (retrying cannot help)")),
    415: ("The body is not sent as JSON (Content-Type must be application/json).",
          _example(415, "HTTP error", "send the body as JSON (Content-Type: application/json)")),
    422: ("The body does not fit the contract; errors[] locates each field by JSON pointer.",
          _example(422, "Invalid request", "the request does not fit the API contract",
                   errors=[{"location": "/child/nhs_number",
                            "message": "Value error, NHS number fails its Modulus 11 check "
                                       "digit"}])),
    502: ("The advice document's url (on the allow-list) could not be read; nothing was "
          "accepted; retry.",
          _example(502, "Document url unreadable", "the attachment url answered HTTP 404")),
    503: ("Kafka did not acknowledge the event: nothing was accepted; retry after Retry-After.",
          _example(503, "Kafka unavailable", "the event could not be made durable; retry")),
}

#: The error answers of an LA read (``/api/la``).
READ_PROBLEM_STATUSES: Final[dict[int, tuple[str, dict[str, Any]]]] = {
    **PROBLEM_STATUSES,
    403: ("The credential has no read scope (only local_authority credentials read cases); "
          "the refusal is audited.",
          _example(403, "Forbidden", "this credential may not use cases:read")),
    404: ("No such case or document among the caller's LA's: another LA's is answered exactly "
          "as an unknown one, and the refused read is audited.",
          _example(404, "Not found", "no case with this id among this LA's cases")),
    422: ("A query parameter does not fit: a cursor this API did not give out, a limit below "
          "1, a time without its UTC offset, a malformed SHA-256.",
          _example(422, "Invalid request", "the request does not fit the API contract",
                   errors=[{"location": "/cursor", "message": "the cursor is not one this API "
                            "gave out; start again without one"}])),
    503: ("The read model cannot answer (not configured, or its database is unreachable); "
          "retry after Retry-After.",
          _example(503, "Read model unavailable", "the read model cannot answer: "
                   "OperationalError")),
}

#: What every JSON write may answer; 404 and 502 are added by the operations that can give them.
WRITE_STATUSES: Final = (401, 403, 413, 415, 422, 503)


def problem_responses(
    *statuses: int, table: dict[int, tuple[str, dict[str, Any]]] = PROBLEM_STATUSES
) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route for these error statuses (default :data:`WRITE_STATUSES`),
    described from ``table`` (:data:`READ_PROBLEM_STATUSES` for the LA's reads)."""
    wanted = statuses or WRITE_STATUSES
    return {
        status: {
            "description": table[status][0],
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "example": table[status][1],
                }
            },
        }
        for status in wanted
    }


def _with_problem_schemas(app: FastAPI) -> None:
    """Make ``app.openapi()`` also carry the Problem schemas the problem responses refer to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _, defs = models_json_schema(
                [(Problem, "serialization")], ref_template="#/components/schemas/{model}"
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(defs["$defs"])
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` from local assets and complete the OpenAPI document.

    The app must be made with ``docs_url=None`` (FastAPI's own page loads its assets from a CDN).
    """
    _with_problem_schemas(app)
    static = resources.files("fastapi_offline") / "static"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_PATH}/favicon.png",
            # validatorUrl None: the page would otherwise ask validator.swagger.io for a badge.
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
        )

    @app.get(DOCS_ASSETS_PATH + "/{name}", include_in_schema=False)
    async def swagger_asset(name: str) -> FileResponse:
        media_type = DOCS_ASSETS.get(name)
        if media_type is None:
            raise HTTPException(404, "no such asset")
        with resources.as_file(static / name) as path:
            return FileResponse(path, media_type=media_type,
                                headers={"Cache-Control": "public, max-age=86400"})


#: The markers around the generated part of docs/api.md.
REFERENCE_BEGIN: Final = "<!-- BEGIN generated by `python -m connectors.api_docs` -->"
REFERENCE_END: Final = "<!-- END generated -->"


def _type(schema: dict[str, Any]) -> str:
    """A field's type in words: ``string (date)``, ``array of AreaOfNeed``, ``ChildIn``..."""
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        kinds = [_type(s) for s in schema["anyOf"] if s.get("type") != "null"]
        nullable = any(s.get("type") == "null" for s in schema["anyOf"])
        return " or ".join(kinds) + (" or null" if nullable else "")
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        return "object"
    return f"{kind} ({schema['format']})" if "format" in schema else kind


def _constraints(schema: dict[str, Any]) -> str:
    """Bounds and patterns of a field (of its non-null alternative), in words."""
    for alternative in schema.get("anyOf", ()):
        if alternative.get("type") != "null":
            schema = {**alternative, **{k: v for k, v in schema.items() if k != "anyOf"}}
    words = []
    if "pattern" in schema:
        words.append(f"pattern `{schema['pattern']}`")
    if "minLength" in schema and "maxLength" in schema:
        words.append(f"{schema['minLength']} to {schema['maxLength']} characters")
    elif "maxLength" in schema:
        words.append(f"at most {schema['maxLength']} characters")
    if "minimum" in schema:
        words.append(f"at least {int(schema['minimum'])}")
    if "maximum" in schema:
        words.append(f"at most {int(schema['maximum'])}")
    if "maxItems" in schema:
        words.append(f"at most {schema['maxItems']} items")
    if "default" in schema and schema["default"] not in (None, [], {}):
        words.append(f"default `{json.dumps(schema['default'])}`")
    return "; ".join(words)


def _schema_section(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"#### {name}", "", str(schema.get("description", "")).strip(), ""]
    if "enum" in schema:
        lines += ["One of: " + ", ".join(f"`{v}`" for v in schema["enum"]) + ".", ""]
        return lines
    required = set(schema.get("required", ()))
    lines += ["| field | type | required | constraints | description |", "|---|---|---|---|---|"]
    for field, spec in schema.get("properties", {}).items():
        description = str(spec.get("description", "")).replace("|", "\\|")
        constraints = _constraints(spec).replace("|", "\\|")
        needed = "yes" if field in required else "no"
        lines.append(f"| `{field}` | {_type(spec)} | {needed} | {constraints} | {description} |")
    return [*lines, ""]


def _referenced(schema: Any, out: list[str], schemas: dict[str, Any]) -> None:
    """Collect the component names ``schema`` refers to, depth first, each once."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[-1]
            if name not in out:
                out.append(name)
                _referenced(schemas[name], out, schemas)
        for value in schema.values():
            _referenced(value, out, schemas)
    elif isinstance(schema, list):
        for value in schema:
            _referenced(value, out, schemas)


def _parameters(op: dict[str, Any]) -> list[str]:
    """The path and query parameters of an operation as a table (none: nothing)."""
    params = op.get("parameters", [])
    if not params:
        return []
    lines = ["| parameter | in | type | constraints | description |", "|---|---|---|---|---|"]
    for param in params:
        schema = param.get("schema", {})
        description = str(param.get("description", "")).replace("|", "\\|")
        constraints = _constraints(schema).replace("|", "\\|")
        lines.append(f"| `{param['name']}` | {param['in']} | {_type(schema)} | {constraints} | "
                     f"{description} |")
    return [*lines, ""]


def _example_of(media: dict[str, Any], schemas: dict[str, Any]) -> Any:
    """The operation's example body, or its schema's first example."""
    if media.get("examples"):
        return next(iter(media["examples"].values()))["value"]
    ref = str(media["schema"].get("$ref", ""))
    return schemas.get(ref.rsplit("/", 1)[-1], {}).get("examples", [None])[0]


def _read_section(method: str, path: str, op: dict[str, Any],
                  schemas: dict[str, Any]) -> list[str]:
    """A read operation: its parameters, its answers and, for JSON, an example answer."""
    lines = [f"#### {method.upper()} {path}", "", f"{op['summary']}.", ""]
    description = str(op.get("description", "")).strip()
    if description:
        lines += [" ".join(description.split()), ""]
    lines += _parameters(op)
    ok = op["responses"].get("200", {})
    content = ok.get("content", {})
    json_schema = content.get("application/json", {}).get("schema", {})
    answers = ", ".join(sorted(op["responses"]))
    if "$ref" in json_schema:
        lines += [f"Answers {answers} (200: {_type(json_schema)}; the others: "
                  "[Problem](#problem)).", ""]
        name = str(json_schema["$ref"]).rsplit("/", 1)[-1]
        examples = schemas[name].get("examples")
        if examples:
            lines += ["Example answer:", "", "```json", json.dumps(examples[0], indent=2),
                      "```", ""]
    else:
        kinds = ", ".join(f"`{k}`" for k in content) or "bytes"
        lines += [f"Answers {answers} (200: the bytes, {kinds}; {ok.get('description', '')} "
                  "The others: [Problem](#problem)).", ""]
    return lines


def reference_markdown(document: dict[str, Any]) -> str:
    """The JSON API reference of docs/api.md, made from the OpenAPI document.

    One section per JSON operation (its parameters, its body and an example, what it answers),
    then every schema they use with its fields' names, types, constraints and descriptions.
    """
    schemas = document["components"]["schemas"]
    lines = [REFERENCE_BEGIN, "", "### Operations", ""]
    used: list[str] = []
    for path, item in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, op in item.items():
            if "requestBody" not in op:
                _referenced(op["responses"], used, schemas)
                _referenced(op.get("parameters", []), used, schemas)
                lines += _read_section(method, path, op, schemas)
                continue
            _referenced(op["requestBody"], used, schemas)
            _referenced(op["responses"], used, schemas)
            _referenced(op.get("parameters", []), used, schemas)
            ok_status, ok = next((k, v) for k, v in op["responses"].items() if k.startswith("2"))
            answer = _type(ok["content"]["application/json"]["schema"])
            answers = ", ".join(sorted(op["responses"]))
            media = op["requestBody"]["content"]["application/json"]
            body = media["schema"]
            lines += [
                f"#### {method.upper()} {path}",
                "",
                f"{op['summary']}. Body: {_type(body) if '$ref' in body else 'a casework event'}"
                f"; answers {answers} ({ok_status}: {answer}; the others: "
                "[Problem](#problem)). Example body:",
                "",
                "```json",
                json.dumps(_example_of(media, schemas), indent=2),
                "```",
                "",
                *_parameters(op),
            ]
    lines += ["### Schemas", ""]
    for name in used:
        lines += _schema_section(name, schemas[name])
    return "\n".join([*lines, REFERENCE_END]) + "\n"


def main() -> None:
    """Print the generated reference, or rewrite it in place in the file given (docs/api.md)."""
    import sys

    from connectors.app import Ports, create_app
    from connectors.auth import InMemoryCredentialStore
    from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
    from ehcp.settings import Settings

    app = create_app(Settings.model_validate({}), Ports(publisher=InMemoryPublisher(),
                                       docstore=InMemoryDocumentStore(),
                                       credentials=InMemoryCredentialStore()))
    text = reference_markdown(app.openapi())
    if len(sys.argv) < 2:
        sys.stdout.write(text)
        return
    target = Path(sys.argv[1])
    current = target.read_text()
    start, end = current.index(REFERENCE_BEGIN), current.index(REFERENCE_END)
    target.write_text(current[:start] + text + current[end + len(REFERENCE_END) + 1:])


if __name__ == "__main__":
    main()
