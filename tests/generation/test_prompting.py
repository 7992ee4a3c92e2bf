"""camera_prompt: the one way shot size, camera move and lens become words for wan / ltx."""

from __future__ import annotations

import pytest

from generation.backends.base import RenderRequest
from generation.backends.prompting import CAMERA_MOVE_WORDS, SHOT_SIZE_WORDS, camera_prompt, lens_words, prompt_for
from generation.backends.animatic import CAMERA_MOVES, SHOT_FRAMINGS


def test_the_prompt_then_the_camera_sentence():
    assert camera_prompt("@mara looks out over the @deck", shot_size="MCU", camera_move="pan_left", lens_mm=50) == (
        "@mara looks out over the @deck. Camera: medium close-up, camera pans left, 50mm lens.")


def test_a_prompt_ending_in_a_full_stop_gets_no_second_one_and_whitespace_is_collapsed():
    assert camera_prompt("  Rain.\n Night! ", shot_size="WS", camera_move="static", lens_mm=35) == (
        "Rain.\n Night! ".split()[0] + " Night! Camera: wide shot, static camera, 35mm lens.")


def test_an_empty_prompt_is_the_camera_sentence_alone():
    assert camera_prompt("", shot_size="ECU", camera_move="handheld", lens_mm=100) == (
        "Camera: extreme close-up, handheld camera, 100mm telephoto lens.")


@pytest.mark.parametrize("mm, words", [(18, "18mm wide-angle lens"), (28, "28mm lens"), (69, "69mm lens"),
                                       (70, "70mm telephoto lens")])
def test_lens_words(mm, words):
    assert lens_words(mm) == words


def test_aliases_and_unknown_values_follow_the_animatic_grammar():
    assert camera_prompt("x", shot_size="close up", camera_move="dolly in", lens_mm=35) == (
        "x. Camera: close-up, slow dolly push-in, 35mm lens.")
    assert camera_prompt("x", shot_size="??", camera_move="??", lens_mm=35) == "x. Camera: medium shot, static camera, 35mm lens."


def test_every_size_and_move_the_animatic_knows_has_words():
    assert set(SHOT_SIZE_WORDS) == set(SHOT_FRAMINGS)
    assert set(CAMERA_MOVE_WORDS) == set(CAMERA_MOVES)


def test_prompt_for_a_request():
    request = RenderRequest(prompt="a dog runs", shot_size="CU", camera_move="tilt_up", lens_mm=24)
    assert prompt_for(request) == "a dog runs. Camera: close-up, camera tilts up, 24mm wide-angle lens."
