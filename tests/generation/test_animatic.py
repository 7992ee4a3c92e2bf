"""The CPU animatic backend: real frames composed from real reference images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generation.backends.animatic import (
    AnimaticBackend,
    CAMERA_MOVES,
    SHOT_FRAMINGS,
    normalise_camera_move,
    normalise_shot_size,
    timecode,
)
from generation.backends.base import Reference, RenderCancelled, RenderError, RenderRequest

WIDTH, HEIGHT, FRAMES = 256, 144, 12


def ignore_progress(step: int, total: int) -> None:
    pass


def render_frames(request: RenderRequest) -> list[np.ndarray]:
    result = AnimaticBackend().render(request, ignore_progress)
    return list(result.frames)


def small_request(**overrides) -> RenderRequest:
    values = dict(prompt="", frames=FRAMES, fps=24, width=WIDTH, height=HEIGHT, seed=1, caption="")
    values.update(overrides)
    return RenderRequest(**values)


@pytest.fixture
def green_location(tmp_path) -> Reference:
    path = tmp_path / "field.png"
    Image.new("RGB", (640, 360), (30, 160, 40)).save(path)
    return Reference("field", "Field", "location", (str(path),))


@pytest.fixture
def red_character(tmp_path) -> Reference:
    """A pure red photo (no alpha): it must appear as a framed card."""
    path = tmp_path / "red.png"
    Image.new("RGB", (300, 400), (255, 0, 0)).save(path)
    return Reference("ruby", "Ruby", "character", (str(path),))


@pytest.fixture
def blue_cutout(tmp_path) -> Reference:
    """A blue figure on a transparent background: it must appear as a cut-out."""
    path = tmp_path / "blue.png"
    figure = Image.new("RGBA", (200, 400), (0, 0, 0, 0))
    ImageDraw.Draw(figure).rectangle([50, 20, 150, 390], fill=(0, 0, 255, 255))
    figure.save(path)
    return Reference("bleu", "Bleu", "character", (str(path),))


def fraction_close_to(frame: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> float:
    distance = np.abs(frame.astype(np.int16) - np.array(colour, dtype=np.int16)).max(axis=2)
    return float((distance <= tolerance).mean())


def test_frames_have_the_requested_count_shape_and_type(green_location, red_character):
    request = small_request(references=(green_location, red_character), camera_move="push_in")

    result = AnimaticBackend().render(request, ignore_progress)
    frames = list(result.frames)

    assert result.frame_count == FRAMES == len(frames)
    assert result.model == "continuity-animatic" and result.revision == "2"
    for frame in frames:
        assert frame.shape == (HEIGHT, WIDTH, 3)
        assert frame.dtype == np.uint8


def test_describe_model_names_the_animatic():
    backend = AnimaticBackend()
    assert backend.name == "animatic"
    assert backend.describe_model(small_request()) == ("continuity-animatic", "2")


def test_frames_are_produced_lazily(green_location):
    result = AnimaticBackend().render(small_request(references=(green_location,), frames=500), ignore_progress)

    first = next(iter(result.frames))

    assert first.shape == (HEIGHT, WIDTH, 3)  # no need to render 500 frames to get the first


def test_same_seed_gives_identical_frames(green_location, red_character, blue_cutout):
    request = small_request(references=(green_location, red_character, blue_cutout), camera_move="handheld", seed=42,
                            caption="Ruby waits.")

    first, second = render_frames(request), render_frames(request)

    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("references", ["none", "cast"])
def test_different_seed_gives_different_frames(references, green_location, red_character):
    refs = () if references == "none" else (green_location, red_character)
    one = render_frames(small_request(references=refs, seed=1, frames=1))[0]
    two = render_frames(small_request(references=refs, seed=2, frames=1))[0]

    assert np.abs(one.astype(int) - two.astype(int)).mean() > 1.0


def test_a_push_in_moves_while_a_static_shot_holds(green_location, red_character):
    refs = (green_location, red_character)
    push = render_frames(small_request(references=refs, camera_move="push_in"))
    static = render_frames(small_request(references=refs, camera_move="static"))

    def changed_pixels(a, b):
        return float((np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 12).mean())

    # The red card grows on a push-in; on a static shot only the slate's timecode changes.
    assert changed_pixels(push[0], push[-1]) > 0.05
    assert changed_pixels(static[0], static[-1]) < 0.01
    assert fraction_close_to(push[-1], (255, 0, 0)) > fraction_close_to(push[0], (255, 0, 0)) * 1.2


@pytest.mark.parametrize("move", sorted(CAMERA_MOVES))
def test_every_camera_move_renders(move, green_location, red_character):
    frames = render_frames(small_request(references=(green_location, red_character), camera_move=move, frames=6))

    assert len(frames) == 6
    # Below the slate (whose timecode always changes), only a camera move changes the picture.
    below_slate = slice(HEIGHT // 2, HEIGHT)
    assert np.array_equal(frames[0][below_slate], frames[-1][below_slate]) == (move == "static")


def test_pan_moves_the_background_sideways(tmp_path):
    # A plate that is dark on the left and bright on the right: panning left brings more of the
    # left (dark) into view, so the frame gets darker over the shot.
    ramp = np.tile(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (360, 1, 3))
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    location = Reference("ramp", "Ramp", "location", (str(tmp_path / "ramp.png"),))

    frames = render_frames(small_request(references=(location,), camera_move="pan_left", shot_size="WS"))

    middle_row = slice(HEIGHT // 2 - 5, HEIGHT // 2 + 5)
    assert frames[-1][middle_row].mean() < frames[0][middle_row].mean() - 10


def test_the_reference_images_appear_in_the_frame(green_location, red_character, blue_cutout):
    frame = render_frames(small_request(references=(green_location, red_character, blue_cutout), frames=1))[0]

    assert fraction_close_to(frame, (255, 0, 0)) > 0.02  # the red photo card
    assert fraction_close_to(frame, (0, 0, 255)) > 0.02  # the blue cut-out
    assert fraction_close_to(frame, (30, 160, 40)) > 0.3  # the location plate is most of the frame


def test_a_cutout_shows_the_plate_through_its_transparent_parts(green_location, blue_cutout):
    frame = render_frames(small_request(references=(green_location, blue_cutout), frames=1, shot_size="MS"))[0]

    blue = np.argwhere(fraction_mask(frame, (0, 0, 255)))
    top, left = blue.min(axis=0)
    bottom, right = blue.max(axis=0)
    # Just beside the figure it is the location (green), not a white card border.
    beside = frame[(top + bottom) // 2, max(left - 4, 0)]
    assert beside[1] > beside[0] and beside[1] > beside[2]


def fraction_mask(frame: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> np.ndarray:
    return np.abs(frame.astype(np.int16) - np.array(colour, dtype=np.int16)).max(axis=2) <= tolerance


def test_a_close_up_shows_its_subject_larger_than_a_wide_shot(green_location, red_character):
    refs = (green_location, red_character)
    wide = render_frames(small_request(references=refs, shot_size="WS", frames=1))[0]
    close = render_frames(small_request(references=refs, shot_size="CU", frames=1))[0]

    assert fraction_close_to(close, (255, 0, 0)) > 2 * fraction_close_to(wide, (255, 0, 0))


def test_without_a_location_the_backdrop_is_generated(red_character):
    frame = render_frames(small_request(references=(red_character,), frames=1))[0]
    result = AnimaticBackend().render(small_request(references=(red_character,), frames=1), ignore_progress)

    assert result.provenance["plate"] == "generated"
    assert frame.std() > 10  # a graded backdrop, not a flat fill
    assert fraction_close_to(frame, (255, 0, 0)) > 0.02


def test_the_caption_is_drawn(green_location):
    plain = render_frames(small_request(references=(green_location,), frames=1))[0]
    captioned = render_frames(small_request(references=(green_location,), frames=1, caption="We should go. Now."))[0]

    lower_third = slice(int(HEIGHT * 0.7), HEIGHT)
    difference = np.abs(plain[lower_third].astype(int) - captioned[lower_third].astype(int))
    assert (difference.max(axis=2) > 40).mean() > 0.01
    upper = slice(0, int(HEIGHT * 0.5))
    assert np.array_equal(plain[upper, WIDTH // 2:], captioned[upper, WIDTH // 2:])


def test_progress_is_reported_for_every_frame(green_location):
    calls = []
    result = AnimaticBackend().render(small_request(references=(green_location,)), lambda s, t: calls.append((s, t)))

    assert calls == []  # nothing is rendered until the frames are consumed
    list(result.frames)

    assert calls == [(i, FRAMES) for i in range(1, FRAMES + 1)]


def test_cancelling_from_the_progress_callback_stops_the_render(green_location):
    produced = []

    def cancel_at_third_frame(step, total):
        if step == 3:
            raise RenderCancelled()

    result = AnimaticBackend().render(small_request(references=(green_location,)), cancel_at_third_frame)
    with pytest.raises(RenderCancelled):
        for frame in result.frames:
            produced.append(frame)

    assert len(produced) == 2


def test_a_missing_reference_image_is_a_render_error_naming_it(tmp_path, green_location):
    missing = Reference("ghost", "Ghost", "character", (str(tmp_path / "ghost-portrait.png"),))

    with pytest.raises(RenderError, match="ghost-portrait.png") as caught:
        AnimaticBackend().render(small_request(references=(green_location, missing)), ignore_progress)
    assert "@ghost" in str(caught.value)


@pytest.mark.parametrize("kind", ["character", "location", "style"])
def test_a_corrupt_reference_image_is_a_render_error_naming_it(tmp_path, kind):
    broken = tmp_path / "broken-still.jpg"
    broken.write_bytes(b"\xff\xd8\xff this is not really a jpeg")
    reference = Reference("broken", "Broken", kind, (str(broken),))

    with pytest.raises(RenderError, match="broken-still.jpg"):
        AnimaticBackend().render(small_request(references=(reference,)), ignore_progress)


def test_a_cast_member_without_images_gets_a_stand_in(green_location):
    nameless = Reference("stranger", "Stranger", "character", ())

    result = AnimaticBackend().render(small_request(references=(green_location, nameless), frames=1), ignore_progress)

    assert result.provenance["cast"] == ["stranger"]
    assert next(iter(result.frames)).shape == (HEIGHT, WIDTH, 3)


def test_a_style_reference_tints_the_frame(tmp_path, green_location):
    path = tmp_path / "magenta.png"
    Image.new("RGB", (64, 64), (255, 0, 255)).save(path)
    style = Reference("grade", "Grade", "style", (str(path),))

    plain = render_frames(small_request(references=(green_location,), frames=1))[0]
    graded = render_frames(small_request(references=(green_location, style), frames=1))[0]

    centre = (slice(HEIGHT // 3, 2 * HEIGHT // 3), slice(WIDTH // 3, 2 * WIDTH // 3))
    assert graded[centre][..., 0].mean() > plain[centre][..., 0].mean() + 20


def test_invalid_sizes_are_render_errors():
    with pytest.raises(RenderError):
        AnimaticBackend().render(small_request(frames=0), ignore_progress)
    with pytest.raises(RenderError):
        AnimaticBackend().render(small_request(width=8), ignore_progress)


@pytest.mark.parametrize("size", [*SHOT_FRAMINGS, "MLS", "close-up", "nonsense"])
def test_every_shot_size_renders(size, green_location, red_character, blue_cutout):
    frames = render_frames(small_request(references=(green_location, red_character, blue_cutout), shot_size=size, frames=2))
    assert len(frames) == 2


def test_names_are_normalised():
    assert normalise_shot_size("mls") == "MWS"
    assert normalise_shot_size("Close-Up") == "CU"
    assert normalise_shot_size("whatever") == "MS"
    assert normalise_camera_move("Pan Left") == "pan_left"
    assert normalise_camera_move("dolly in") == "push_in"
    assert normalise_camera_move("barrel roll") == "static"


def test_timecode():
    assert timecode(0, 24) == "00:00:00:00"
    assert timecode(29, 24) == "00:00:01:05"
    assert timecode(24 * 3600 + 1, 24) == "01:00:00:01"


@pytest.mark.services
def test_a_continuity_shot_opens_on_the_previous_last_frame_then_dissolves(tmp_path, green_location, ffmpeg_available):
    """Decoded from the encoded clip: frames 0..hold-1 are the previous shot's last frame (magenta),
    the dissolve moves monotonically towards the animatic, and the rest is the animatic itself."""
    import av

    from generation import media
    from generation.backends.animatic.frames import opening_frames
    from generation.render import ClipPaths, render_clip

    previous_last = tmp_path / "previous-last.png"
    Image.new("RGB", (WIDTH, HEIGHT), (230, 0, 230)).save(previous_last)
    frames, fps = 24, 24
    request = small_request(references=(green_location,), frames=frames, fps=fps, first_frame_path=str(previous_last))
    plain = small_request(references=(green_location,), frames=frames, fps=fps)
    decoded = {}
    for name, req in (("continued", request), ("plain", plain)):
        out = ClipPaths(tmp_path / f"{name}.mp4", tmp_path / f"{name}.jpg", tmp_path / f"{name}-last.png")
        render_clip(req, backend="animatic", output=out, house=media.HouseFormat(width=WIDTH, height=HEIGHT, fps=fps),
                    on_progress=ignore_progress, should_cancel=lambda: False)
        with av.open(str(out.video)) as container:
            decoded[name] = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]

    hold, dissolve = opening_frames(frames, fps)
    assert (hold, dissolve) == (4, 8)  # 0.25 s + 0.5 s (6 + 12 frames) squeezed into half of a one-second shot
    assert opening_frames(72, 24) == (6, 12)  # a three-second shot gets them whole
    magenta = [fraction_close_to(frame, (230, 0, 230)) for frame in decoded["continued"]]
    assert all(share > 0.9 for share in magenta[:hold])  # the hold: the previous shot's last frame
    dissolving = magenta[hold - 1:hold + dissolve + 1]
    assert dissolving == sorted(dissolving, reverse=True) and dissolving[0] > dissolving[-1]
    assert all(share < 0.01 for share in magenta[hold + dissolve:])  # then the animatic alone
    assert max(fraction_close_to(frame, (230, 0, 230)) for frame in decoded["plain"]) < 0.01
    after = decoded["continued"][hold + dissolve:]
    assert np.abs(np.stack(after).astype(int) - np.stack(decoded["plain"][hold + dissolve:]).astype(int)).mean() < 3


def test_an_unreadable_previous_frame_is_a_render_error_before_any_frame(tmp_path, green_location):
    broken = tmp_path / "last.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(RenderError, match="previous shot's last frame cannot be read"):
        AnimaticBackend().render(small_request(references=(green_location,), first_frame_path=str(broken)), ignore_progress)
