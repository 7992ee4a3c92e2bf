"""Wan 2.1 VACE through diffusers: one pipeline for every shot, always with the cast's reference
images. A shot that continues from the previous shot's last frame is a VACE "extend" call: `video`
is that frame followed by grey frames, `mask` keeps the first frame (black) and generates the rest
(white), and `reference_images` carries the cast in the same call, so continuity keeps identity
(an image-to-video checkpoint would take the frame but drop the references).

Wan wants a frame count of 4k+1 and sizes that are multiples of 16 (VAE factor 8 x patch 2); the
request is rounded up to that and the extra frames are trimmed, and provenance records both.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from generation.backends.base import ProgressCallback, RenderError, RenderRequest, RenderResult
from generation.backends.diffusion import (
    DiffusersBackend,
    RenderShape,
    cached_pipeline,
    describe_local_model,
    load_rgb_image,
    primary_reference_paths,
    require_model_folder,
)
from generation.media import MediaError, read_frames_rgb
from generation.regions import RegionError, load_region_mask, vace_region_inputs

DEFAULT_VACE_MODEL = "Wan-AI/Wan2.1-VACE-1.3B-diffusers"
VACE_PIPELINE = "WanVACEPipeline"
# What VACE is told to fill in: mid grey, as in diffusers' own first/last-frame example.
GENERATE_FILL = (128, 128, 128)
KEEP, GENERATE = 0, 255  # mask values: black keeps the conditioning frame, white generates


class WanBackend(DiffusersBackend):
    name = "wan"

    def __init__(
        self,
        models_dir: Path | str,
        device: str | None = None,
        *,
        model: str = DEFAULT_VACE_MODEL,
        fixed_shape: RenderShape | None = None,
    ):
        super().__init__(models_dir, device, fixed_shape=fixed_shape)
        self.model = model

    def model_for(self, request: RenderRequest) -> str:
        return request.model or self.model

    def describe_model(self, request: RenderRequest) -> tuple[str, str]:
        return describe_local_model(self.model_for(request), self.models_dir)

    def render(self, request: RenderRequest, on_progress: ProgressCallback) -> RenderResult:
        if request.region_mask_path:
            return self.render_region(request, on_progress)
        model_id = self.model_for(request)
        folder = require_model_folder(model_id, self.models_dir)
        pipe = cached_pipeline(VACE_PIPELINE, folder, self.device)

        size_multiple = pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size[1]
        shape, keep = self.plan_shape(request, size_multiple=size_multiple, frame_step=pipe.vae_scale_factor_temporal)
        conditioning, conditioning_notes = vace_conditioning(request, shape)
        result = self.call_pipeline(pipe, request, on_progress, model_id=model_id, folder=folder, shape=shape, keep=keep,
                                    **conditioning)
        result.provenance.update(conditioning_notes)
        return result


    def render_region(self, request: RenderRequest, on_progress: ProgressCallback) -> RenderResult:
        """A region re-render: VACE regenerates inside the drawn mask (white) and keeps the rest of
        the source take (`video`), still conditioned on the cast's `reference_images`."""
        if not request.source_video_path:
            raise RenderError("A region re-render needs the take it changes (source_video_path).")
        model_id = request.model or self.model  # VACE weights: the source video replaces a first frame
        folder = require_model_folder(model_id, self.models_dir)
        pipe = cached_pipeline(VACE_PIPELINE, folder, self.device)
        size_multiple = pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size[1]
        shape, keep = self.plan_shape(request, size_multiple=size_multiple, frame_step=pipe.vae_scale_factor_temporal)
        try:
            source = read_frames_rgb(Path(request.source_video_path), width=shape.width, height=shape.height,
                                     max_frames=shape.frames)
            mask = load_region_mask(request.region_mask_path, (shape.width, shape.height))
            video, masks = vace_region_inputs(source, mask, width=shape.width, height=shape.height, count=shape.frames)
        except (MediaError, OSError, RegionError) as exc:
            raise RenderError(f"Cannot re-render the region: {exc}") from exc
        paths = primary_reference_paths(request)
        images = [load_rgb_image(path) for path in paths]
        result = self.call_pipeline(pipe, request, on_progress, model_id=model_id, folder=folder, shape=shape, keep=keep,
                                    video=video, mask=masks, reference_images=images or None)
        result.provenance.update({
            "first_frame": False, "region": True, "source_frames": len(source),
            "reference_handles": [ref.handle for ref in request.references if ref.primary_image],
        })
        return result

def vace_conditioning(request: RenderRequest, shape: RenderShape) -> tuple[dict, dict]:
    """(pipeline arguments, provenance notes): the cast as `reference_images`, and with a first
    frame also `video` + `mask` that keep it as frame 0 and generate the rest."""
    paths = primary_reference_paths(request)
    images = [load_rgb_image(path) for path in paths]
    handles = [ref.handle for ref in request.references if ref.primary_image]
    arguments: dict = {"reference_images": images or None}
    if request.first_frame_path:
        video, mask = continuation_video_and_mask(load_rgb_image(request.first_frame_path), shape)
        arguments |= {"video": video, "mask": mask}
    elif not images and not request.prompt.strip():
        raise RenderError("Nothing to render from: the shot has no prompt and no cast reference images.")
    return arguments, {"first_frame": bool(request.first_frame_path), "reference_handles": handles}


def continuation_video_and_mask(first_frame: Image.Image, shape: RenderShape) -> tuple[list, list]:
    """`shape.frames` frames: the previous shot's last frame (fitted to the render size, centre
    crop, no stretching), then grey; the mask keeps frame 0 and generates every later frame."""
    size = (shape.width, shape.height)
    start = ImageOps.fit(first_frame.convert("RGB"), size, Image.Resampling.LANCZOS)
    blank = Image.new("RGB", size, GENERATE_FILL)
    video = [start] + [blank] * (shape.frames - 1)
    mask = [Image.new("L", size, KEEP)] + [Image.new("L", size, GENERATE)] * (shape.frames - 1)
    return video, mask
