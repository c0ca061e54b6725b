"""The JSON APIs' description: problem responses, and Swagger UI served without a CDN.

- :data:`PROBLEM_STATUSES` / :func:`problem_responses`: the error answers (RFC 9457 problem
  details, ``application/problem+json``) each JSON operation documents, with an example each;
- :func:`install_docs`: ``/docs`` (Swagger UI) with its JS, CSS and icon served by this app from
  the pinned ``fastapi-offline`` package, so the page works on a network without internet; and
  the ``Problem`` schema in the OpenAPI document's components.
"""

from __future__ import annotations

from importlib import resources
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
    413: ("The event would be larger than Kafka accepts on its topic; retrying cannot help.",
          _example(413, "Event too large",
                   "the event would be larger than Kafka accepts on its topic; shorten the "
                   "identifiers and text (retrying cannot help)")),
    415: ("The body is not sent as JSON (Content-Type must be application/json).",
          _example(415, "HTTP error", "send the body as JSON (Content-Type: application/json)")),
    422: ("The body does not fit the contract; errors[] locates each field by JSON pointer.",
          _example(422, "Invalid request", "the request does not fit the API contract",
                   errors=[{"location": "/child/nhs_number",
                            "message": "Value error, NHS number fails its format or Modulus 11 "
                                       "check"}])),
    503: ("Kafka did not acknowledge the event: nothing was accepted; retry after Retry-After.",
          _example(503, "Kafka unavailable", "the event could not be made durable; retry")),
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route for these error statuses (all of them by default)."""
    wanted = statuses or tuple(PROBLEM_STATUSES)
    return {
        status: {
            "description": PROBLEM_STATUSES[status][0],
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "example": PROBLEM_STATUSES[status][1],
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
