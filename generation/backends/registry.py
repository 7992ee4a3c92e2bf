"""Backends by name. Modules are imported only when a backend is built, so the web process that
validates a backend name never imports torch."""

from __future__ import annotations

import importlib

from django.core.exceptions import ValidationError

from generation.backends.base import Backend

BACKENDS: dict[str, tuple[str, str, str]] = {
    # name: (module, class, one-line description shown in the studio)
    "animatic": ("generation.backends.animatic", "AnimaticBackend", "CPU previsualisation from the cast references"),
    "wan": ("generation.backends.wan", "WanBackend", "Wan 2.1 VACE with reference images (GPU)"),
    "ltx": ("generation.backends.ltx", "LTXBackend", "LTX-Video image-to-video (GPU)"),
    "tiny": ("generation.backends.tiny", "TinyBackend", "Wan/LTX code path with tiny random weights (tests)"),
}


def backend_choices() -> list[tuple[str, str]]:
    return [(name, f"{name} — {description}") for name, (_, _, description) in BACKENDS.items()]


def check_backend_name(name: str) -> None:
    if name not in BACKENDS:
        raise ValidationError(f"Unknown generation backend {name!r}; choose one of: {', '.join(BACKENDS)}.")


def build_backend(name: str) -> Backend:
    check_backend_name(name)
    module_name, class_name, _ = BACKENDS[name]
    backend_class = getattr(importlib.import_module(module_name), class_name)
    return backend_class(**_backend_options(name))


def _backend_options(name: str) -> dict:
    if name == "animatic":
        return {}
    from django.conf import settings

    return {"models_dir": settings.CONTINUITY_MODELS_DIR}
