"""The API against its own OpenAPI schema, by tools nobody here wrote.

The schema the server serves at /api/v1/schema/ validates as OpenAPI 3.1 (openapi-spec-validator,
and drf-spectacular's own check), and schemathesis generates requests for every operation from the
live schema, sends them through the WSGI app with an owner's token whose scopes allow everything,
and checks every answer: no server error, a status code and a body the schema documents. Path
parameters point at a real project and real objects, so the generated bodies and queries reach
the services, not only the 404 path. A stateful run then follows the schema's links (each create
to the object it created: GET, PATCH, DELETE and what hangs below it) under the same checks.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, settings
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from schemathesis.checks import (
    content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance,
)

from studio.models import Decision
from studio.services.reviews import review_decide
from studio.services.api_tokens import api_token_create

pytestmark = pytest.mark.django_db
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_schema_validates_as_openapi(tmp_path, client):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))  # raises on an invalid schema
    text = target.read_text()
    assert text.startswith("openapi: 3.1.0") and "/api/v1/projects/{slug}/shots/" in text
    served = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    spec = json.loads(served.content)
    validate(spec, cls=OpenAPIV31SpecValidator)  # raises OpenAPIValidationError on any violation
    created = spec["paths"]["/api/v1/projects/{slug}/shots/"]["post"]["responses"]["201"]["links"]
    assert created["ProjectsShotsRetrieve"]["parameters"] == {"slug": "$request.path.slug", "id": "$response.body#/id"}


def test_the_validator_refuses_a_broken_schema(client):
    """The check above can fail: the served schema with one operation's responses removed is refused."""
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    spec = json.loads(client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    spec["paths"]["/api/v1/projects/"]["get"]["responses"] = "none"
    with pytest.raises(OpenAPIValidationError):
        validate(spec, cls=OpenAPIV31SpecValidator)


# Loaded from the live app at collection (the schema view reads no database). schemathesis's
# lazy `from_fixture` loader does not work with pytest 9, whose nodes have no `_nodeid` to rename.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: a request must not close the connection that holds the test's
    transaction (the WSGI handler closes old connections when a request starts and finishes)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_target(world, alice):
    review_decide(take=world["take"], actor=alice, decision=Decision.APPROVED)
    _, secret = api_token_create(user=alice, name="fuzz", scopes=["read", "write", "render"])
    ids = {"slug": world["project"].slug, "take_id": world["take"].id, "cut_id": world["cut"].id,
           "member_id": world["cast"]["mara"].id}
    pk_by_collection = {"cast": world["cast"]["mara"].id, "images": world["image"].id, "scenes": world["scene"].id,
                        "shots": world["shot"].id, "takes": world["take"].id, "comments": world["comment"].id,
                        "cuts": world["cut"].id, "entries": world["entry"].id, "exports": world["export"].id}
    return {"headers": {"Authorization": f"Bearer {secret}"}, "ids": ids, "pk_by_collection": pk_by_collection}


def _aim_at_real_objects(case, target) -> None:
    """Point path parameters at the project's objects; `{id}` is an id of the collection before it."""
    parts = case.path.strip("/").split("/")
    for name in list(case.path_parameters or {}):
        if name == "id":
            collection = parts[parts.index("{id}") - 1]
            case.path_parameters[name] = target["pk_by_collection"][collection]
        elif name in target["ids"]:
            case.path_parameters[name] = target["ids"][name]


@schema.parametrize()
@settings(max_examples=12, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_its_schema_says(case, fuzz_target, settings):
    settings.CONTINUITY_RENDER_RATE = "100000/10m"  # the fuzzer asks for many renders; the limit has its own test
    _aim_at_real_objects(case, fuzz_target)
    case.call_and_validate(headers=fuzz_target["headers"], checks=CHECKS)


# --- Stateful: follow the links from each create -------------------------------------------------------

@pytest.fixture
def workflow(fuzz_target, world):
    """schemathesis's state machine for this schema, calling as the owner's token; a generated slug
    is replaced with the test project's unless it names a project the run itself created."""
    created_slugs: set[str] = set()

    class Workflow(schema.as_state_machine()):
        def before_call(self, case):
            if case.path_parameters and case.path_parameters.get("slug") not in created_slugs:
                case.path_parameters["slug"] = world["project"].slug

        def get_call_kwargs(self, case):
            return {"headers": fuzz_target["headers"]}

        def after_call(self, response, case):
            super().after_call(response, case)
            if case.method == "POST" and case.path == "/api/v1/projects/" and response.status_code == 201:
                created_slugs.add(response.json()["slug"])

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)

    return Workflow


STATEFUL = settings(max_examples=8, stateful_step_count=6, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def test_linked_operations_answer_as_the_schema_says(workflow, settings):
    settings.CONTINUITY_RENDER_RATE = "100000/10m"
    workflow.run(settings=STATEFUL)
