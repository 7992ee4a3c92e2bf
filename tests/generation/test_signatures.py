"""render_signature: equal requests hash equal, any change that alters the frames changes the hash,
and files enter by content, never by path."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from generation.backends.base import Reference, RenderRequest
from generation.signatures import file_sha256, render_signature, signature_payload

MARA = Reference(handle="mara", name="Mara", kind="character", image_paths=("/media/a/mara.png", "/media/a/mara2.png"),
                 image_sha256s=("a" * 64, "b" * 64), description="A ferry pilot.")
DECK = Reference(handle="deck", name="Ferry deck", kind="location", image_paths=("/media/a/deck.jpg",), image_sha256s=("c" * 64,))
BASE = RenderRequest(prompt="@mara walks the @deck", references=(MARA, DECK), seed=7, frames=48, fps=24, width=1280,
                     height=720, steps=30, extra={"shot_code": "1A"})


def sign(request: RenderRequest = BASE, *, backend: str = "wan", model: str = "Wan2.1-VACE-1.3B", revision: str = "r1") -> str:
    return render_signature(backend=backend, model=model, revision=revision, request=request)


def test_same_request_same_signature():
    rebuilt = RenderRequest.from_dict(BASE.to_dict())
    assert rebuilt is not BASE
    signature = sign(rebuilt)
    assert signature == sign()
    assert len(signature) == 64 and int(signature, 16) >= 0


def test_dict_order_in_extra_does_not_matter():
    a = dataclasses.replace(BASE, extra={"shot_code": "1A", "scene": "INT. DECK"})
    b = dataclasses.replace(BASE, extra={"scene": "INT. DECK", "shot_code": "1A"})
    assert sign(a) == sign(b)


@pytest.mark.parametrize("change", [
    {"prompt": "@mara runs along the @deck"},
    {"seed": 8},
    {"frames": 49},
    {"fps": 25},
    {"width": 1920},
    {"height": 1080},
    {"steps": 31},
    {"shot_size": "CU"},
    {"camera_move": "push_in"},
    {"lens_mm": 50},
    {"model": "other-model-folder"},
    {"extra": {"shot_code": "1B"}},
    {"references": (DECK, MARA)},  # order is the order the model sees them
    {"references": (MARA,)},
])
def test_any_request_field_changes_the_signature(change):
    assert sign(dataclasses.replace(BASE, **change)) != sign()


def test_a_reference_image_sha_changes_the_signature():
    changed = dataclasses.replace(MARA, image_sha256s=("a" * 64, "d" * 64))
    assert sign(dataclasses.replace(BASE, references=(changed, DECK))) != sign()


def test_reference_description_changes_the_signature():
    changed = dataclasses.replace(MARA, description="A ferry pilot in a red coat.")
    assert sign(dataclasses.replace(BASE, references=(changed, DECK))) != sign()


@pytest.mark.parametrize("kwargs", [{"backend": "ltx"}, {"model": "Wan2.1-VACE-14B"}, {"revision": "r2"}])
def test_backend_model_and_revision_change_the_signature(kwargs):
    assert sign(**kwargs) != sign()


def test_reference_paths_do_not_matter():
    moved = dataclasses.replace(MARA, image_paths=("/elsewhere/x.png", "/elsewhere/y.png"))
    assert sign(dataclasses.replace(BASE, references=(moved, DECK))) == sign()
    payload = signature_payload(backend="wan", model="m", revision="r", request=BASE)
    assert all("image_paths" not in ref for ref in payload["request"]["references"])
    assert "/media/a/mara.png" not in repr(payload)


def test_signature_payload_does_not_mutate_the_request():
    before = BASE.to_dict()
    signature_payload(backend="wan", model="m", revision="r", request=BASE)
    assert BASE.to_dict() == before


def test_first_frame_enters_by_content(tmp_path):
    one, same, other = tmp_path / "one.png", tmp_path / "sub-same.png", tmp_path / "other.png"
    one.write_bytes(b"frame bytes")
    same.write_bytes(b"frame bytes")
    other.write_bytes(b"different frame bytes")
    with_one = sign(dataclasses.replace(BASE, first_frame_path=str(one)))
    assert with_one != sign()
    assert sign(dataclasses.replace(BASE, first_frame_path=str(same))) == with_one
    assert sign(dataclasses.replace(BASE, first_frame_path=str(other))) != with_one
    payload = signature_payload(backend="wan", model="m", revision="r", request=dataclasses.replace(BASE, first_frame_path=str(one)))
    assert payload["request"]["first_frame_sha256"] == hashlib.sha256(b"frame bytes").hexdigest()
    assert str(one) not in repr(payload)


def test_missing_first_frame_is_an_error_not_a_silent_match(tmp_path):
    with pytest.raises(OSError):
        sign(dataclasses.replace(BASE, first_frame_path=str(tmp_path / "gone.png")))


def test_file_sha256_reads_large_files_in_blocks(tmp_path):
    data = bytes(range(256)) * 9000  # larger than one 1 MiB block
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(path)) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("backend", ["wan", "ltx", "tiny", "animatic"])
@pytest.mark.parametrize("change", [{"shot_size": "CU"}, {"camera_move": "push_in"}, {"lens_mm": 85}])
def test_camera_fields_are_signed_for_every_backend_that_uses_them(backend, change):
    assert sign(dataclasses.replace(BASE, **change), backend=backend) != sign(backend=backend)


def test_the_caption_is_signed_for_the_animatic_that_draws_it_and_not_for_wan_or_ltx():
    captioned = dataclasses.replace(BASE, caption="MARA: Not tonight.")
    assert sign(captioned, backend="animatic") != sign(backend="animatic")
    for backend in ("wan", "ltx", "tiny"):
        assert sign(captioned, backend=backend) == sign(backend=backend)
        assert "caption" not in signature_payload(backend=backend, model="m", revision="r", request=BASE)["request"]


def test_a_backend_that_ignores_shot_size_does_not_sign_it(monkeypatch):
    from generation.backends import registry

    entry = registry.BackendEntry("generation.backends.animatic", "AnimaticBackend", "no framing", 1,
                                  frozenset({"camera_move", "lens_mm", "caption"}))
    monkeypatch.setitem(registry.BACKENDS, "no-framing", entry)
    assert sign(dataclasses.replace(BASE, shot_size="CU"), backend="no-framing") == sign(backend="no-framing")
    assert sign(dataclasses.replace(BASE, lens_mm=85), backend="no-framing") != sign(backend="no-framing")
