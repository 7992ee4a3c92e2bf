"""Backends by name, with what the engine knows about each: where it lives, a one-line description
and its default number of steps. Modules are imported only when a backend is built, so a process
that only validates a name or lists choices never imports torch."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import NamedTuple

from generation.backends.base import Backend, RenderError

FALLBACK_STEPS = 20  # a backend registered without its own default (e.g. a test's)


# The shot fields a backend may or may not use. A backend declares the ones it uses; the others are
# left out of its render signature, so changing them never costs a render that comes out the same.
SHOT_FIELDS = frozenset({"shot_size", "camera_move", "lens_mm", "caption"})
# wan / ltx / tiny: size, move and lens reach the model as prompt words (prompting.camera_prompt);
# the caption is an animatic lower third they never see.
CAMERA_AS_PROMPT_TEXT = frozenset({"shot_size", "camera_move", "lens_mm"})


class BackendEntry(NamedTuple):
    module: str
    class_name: str
    description: str  # one line, shown where people pick a backend
    default_steps: int = FALLBACK_STEPS
    uses: frozenset = SHOT_FIELDS  # shot fields the backend reads; unknown backends: all of them
    camera_in_prompt: bool = False  # the prompt sent is prompting.camera_prompt(...), shown before rendering


BACKENDS: dict[str, BackendEntry] = {
    # The animatic draws all four: framing, move, the lens on the slate (and in the plate's zoom), the caption.
    "animatic": BackendEntry("generation.backends.animatic", "AnimaticBackend",
                             "CPU previsualisation from the cast references", 1, SHOT_FIELDS),
    "wan": BackendEntry("generation.backends.wan", "WanBackend", "Wan 2.1 VACE with reference images (GPU)", 30,
                        CAMERA_AS_PROMPT_TEXT, True),
    "ltx": BackendEntry("generation.backends.ltx", "LTXBackend", "LTX-Video image-to-video (GPU)", 40,
                        CAMERA_AS_PROMPT_TEXT, True),
    "tiny": BackendEntry("generation.backends.tiny", "TinyBackend",
                         "Wan/LTX code path with tiny random weights (tests)", 3, CAMERA_AS_PROMPT_TEXT, True),
}


class UnknownBackend(RenderError, LookupError):
    """A backend name the registry does not know; the message lists the ones it does."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"Unknown generation backend {name!r}; choose one of: {', '.join(BACKENDS)}.")


def backend_entry(name: str) -> BackendEntry:
    if name not in BACKENDS:
        raise UnknownBackend(name)
    return BackendEntry(*BACKENDS[name])  # tests may register a plain (module, class, description) tuple


def backend_choices() -> list[tuple[str, str]]:
    return [(name, f"{name} — {backend_entry(name).description}") for name in BACKENDS]


def check_backend_name(name: str) -> None:
    backend_entry(name)


def default_steps(name: str) -> int:
    """Steps a request for this backend asks for; an unknown name gets the fallback (building it fails)."""
    return backend_entry(name).default_steps if name in BACKENDS else FALLBACK_STEPS


def used_shot_fields(name: str) -> frozenset:
    """The shot fields `name` uses (all of them for a name the registry does not know)."""
    return backend_entry(name).uses if name in BACKENDS else SHOT_FIELDS


def sends_camera_in_prompt(name: str) -> bool:
    return name in BACKENDS and backend_entry(name).camera_in_prompt


def build_backend(name: str, *, models_dir: Path | str | None = None) -> Backend:
    """The backend instance; `models_dir` is where weight-loading backends look (never downloaded)."""
    entry = backend_entry(name)
    backend_class = getattr(importlib.import_module(entry.module), entry.class_name)
    return backend_class(**_backend_options(name, models_dir))


def _backend_options(name: str, models_dir: Path | str | None) -> dict:
    if name == "animatic":
        return {}
    if models_dir is None:
        raise RenderError(f"The {name!r} backend needs a models folder (CONTINUITY_MODELS_DIR).")
    return {"models_dir": models_dir}
