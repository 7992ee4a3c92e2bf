"""Forms offer what people may pick, without switching what an operator already set."""

from __future__ import annotations

import pytest

from studio.forms import ShotForm
from studio.models import Shot

pytestmark = pytest.mark.django_db


def _offered(form: ShotForm) -> list[str]:
    return [name for name, _ in form.fields["backend"].choices]


def test_the_tiny_backend_is_not_offered_for_a_new_choice(shot, settings):
    settings.CONTINUITY_OFFER_TINY_BACKEND = False
    assert "tiny" not in _offered(ShotForm.for_shot(shot))


def test_a_shot_an_operator_set_to_tiny_keeps_it_when_its_form_is_saved(shot, settings):
    settings.CONTINUITY_OFFER_TINY_BACKEND = False
    Shot.objects.filter(pk=shot.pk).update(backend="tiny")
    shot.refresh_from_db()
    form = ShotForm.for_shot(shot)
    assert "tiny" in _offered(form)
    data = {**form.initial, "backend": "tiny"}
    bound = ShotForm.for_shot(shot, data=data)
    assert bound.is_valid(), bound.errors
    assert bound.service_values()["backend"] == "tiny"
