"""Schema hooks: every operation documents the errors the API answers with, in one shape, so
clients (and schemathesis) can rely on them."""

from __future__ import annotations

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
