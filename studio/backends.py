"""The studio's face of the engine's backend registry: names checked as ValidationError (so every
form and service shows the message), choices for forms, and backends built with this install's
models folder. The engine itself knows nothing of settings."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError

from generation.backends import registry
from generation.backends.base import Backend


# Renders random weights: for the tests and for operators exercising the GPU code path, never a
# choice offered to people making a film (CONTINUITY_OFFER_TINY_BACKEND=1 offers it).
OPERATOR_ONLY = frozenset({"tiny"})


def backend_choices(keep: str = "") -> list[tuple[str, str]]:
    """The backends people may pick in the studio's forms. `keep` is the value already saved: an
    operator-only backend stays offered where it is set, so saving the form does not switch it."""
    offered = registry.backend_choices()
    if settings.CONTINUITY_OFFER_TINY_BACKEND:
        return offered
    return [(name, label) for name, label in offered if name not in OPERATOR_ONLY or name == keep]


def validate_backend_name(name: str) -> None:
    try:
        registry.check_backend_name(name)
    except registry.UnknownBackend as exc:
        raise ValidationError(str(exc)) from None


def studio_backend(name: str) -> Backend:
    """The named backend, configured for this install; ValidationError for an unknown name."""
    validate_backend_name(name)
    return registry.build_backend(name, models_dir=settings.CONTINUITY_MODELS_DIR)
