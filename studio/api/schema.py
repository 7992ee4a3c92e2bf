"""Schema hooks: every operation documents the errors the API answers with, in one shape, so
clients (and schemathesis) can rely on them; and every create links to what it created (OpenAPI
links), so a client, or schemathesis's stateful phase, can follow POST -> GET/PATCH/DELETE."""

from __future__ import annotations

import re

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "detail": {"type": "string", "description": "What was refused and why."},
        "current": {"type": "object", "description": "On 409: the object's current values, version included."},
    },
    "additionalProperties": True,  # a refused field is named with its messages, e.g. {"version": ["..."]}
}
ERRORS_EVERYWHERE = {
    "400": "A value was refused (the body says which and why).",
    "401": "No valid credentials: a session, or `Authorization: Bearer <token>`.",
    "403": "Your role, or your token's scopes, do not allow this.",
    "404": "No such object, or a project you are not a member of.",
}
ERRORS_ON_WRITES = {
    "409": "Someone changed the object since you read it (`current` holds its values), or its state forbids this.",
    "412": "`If-Match` names a version the object is no longer at (`current` holds its values).",
    "413": "The upload is larger than the most this accepts.",
    "415": "The body's Content-Type is not one this accepts (JSON, form or multipart), or names no type it can read.",
    "429": "Too many render requests; `Retry-After` says when to try again.",
}
ERRORS_ON_READS = {"406": "The Accept header asks for a type this does not answer with."}


def document_errors(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for methods in result.get("paths", {}).values():
        for method, operation in methods.items():
            errors = {**ERRORS_EVERYWHERE, **(ERRORS_ON_READS if method == "get" else ERRORS_ON_WRITES)}
            responses = operation.setdefault("responses", {})
            for code, description in errors.items():
                responses.setdefault(code, {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                })
    return result


PATH_PARAMETER = re.compile(r"\{(\w+)\}")
METHODS = ("get", "patch", "put", "post", "delete")


def link_creates_to_what_they_created(result, generator, request, public):
    """For every POST answering 201 on a collection `P`, a link to each operation under `P{param}/`
    (the object it created and what hangs below it), with `param` taken from the answer's `id` (a
    project's `slug`) and every parameter of `P` itself passed on from the request."""
    paths = result.get("paths", {})
    for path, methods in paths.items():
        created = methods.get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        parent_parameters = PATH_PARAMETER.findall(path)
        links = created.setdefault("links", {})
        for other, other_methods in paths.items():
            match = re.fullmatch(re.escape(path) + r"\{(\w+)\}/.*", other)
            if match is None or PATH_PARAMETER.findall(other[len(path) + len(match[1]) + 3:]):
                continue  # not below P, or it needs more than the created object's id
            for method in METHODS:
                operation = other_methods.get(method)
                if operation is None or "operationId" not in operation:
                    continue
                parameters = {name: f"$request.path.{name}" for name in parent_parameters}
                parameters[match[1]] = "$response.body#/slug" if match[1] == "slug" else "$response.body#/id"
                links[_link_name(operation["operationId"])] = {"operationId": operation["operationId"], "parameters": parameters}
        if not links:
            del created["links"]
    return result


def _link_name(operation_id: str) -> str:
    return "".join(part.capitalize() for part in operation_id.split("_"))
