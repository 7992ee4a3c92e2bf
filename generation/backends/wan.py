"""Wan 2.1 through diffusers: VACE with the cast's reference images, or image-to-video when the
shot continues from a first frame (the last frame of the previous shot's take).

Wan wants a frame count of 4k+1 and sizes that are multiples of 16 (VAE factor 8 x patch 2); the
request is rounded up to that and the extra frames are trimmed, and provenance records both.
"""

from __future__ import annotations

from pathlib import Path

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
DEFAULT_I2V_MODEL = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"
VACE_PIPELINE = "WanVACEPipeline"
I2V_PIPELINE = "WanImageToVideoPipeline"


class WanBackend(DiffusersBackend):
    name = "wan"

    def __init__(
        self,
        models_dir: Path | str,
        device: str | None = None,
        *,
        model: str = DEFAULT_VACE_MODEL,
        i2v_model: str = DEFAULT_I2V_MODEL,
        fixed_shape: RenderShape | None = None,
    ):
        super().__init__(models_dir, device, fixed_shape=fixed_shape)
        self.model = model
        self.i2v_model = i2v_model

    def model_for(self, request: RenderRequest) -> str:
        """request.model names the VACE weights; with a first frame, extra["i2v_model"] names the
        image-to-video weights (they are a different checkpoint)."""
        if request.first_frame_path:
            return str(request.extra.get("i2v_model") or self.i2v_model)
        return request.model or self.model

    def describe_model(self, request: RenderRequest) -> tuple[str, str]:
        return describe_local_model(self.model_for(request), self.models_dir)

    def render(self, request: RenderRequest, on_progress: ProgressCallback) -> RenderResult:
        if request.region_mask_path:
            return self.render_region(request, on_progress)
        model_id = self.model_for(request)
        folder = require_model_folder(model_id, self.models_dir)
        pipeline_name = I2V_PIPELINE if request.first_frame_path else VACE_PIPELINE
        pipe = cached_pipeline(pipeline_name, folder, self.device)

        size_multiple = pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size[1]
        shape, keep = self.plan_shape(request, size_multiple=size_multiple, frame_step=pipe.vae_scale_factor_temporal)
        conditioning, conditioning_notes = self._conditioning(request)
        result = self.call_pipeline(pipe, request, on_progress, model_id=model_id, folder=folder, shape=shape, keep=keep,
                                    **conditioning)
        result.provenance.update(conditioning_notes)
        return result

    def _conditioning(self, request: RenderRequest) -> tuple[dict, dict]:
        """(pipeline arguments, provenance notes) for the images the shot is conditioned on."""
        if request.first_frame_path:
            notes = {"first_frame": True, "reference_handles": []}
            if request.references:
                # The I2V checkpoint takes no reference images; say so rather than drop them silently.
                notes["references_ignored"] = [ref.handle for ref in request.references]
            return {"image": load_rgb_image(request.first_frame_path)}, notes
        paths = primary_reference_paths(request)
        images = [load_rgb_image(path) for path in paths]
        handles = [ref.handle for ref in request.references if ref.primary_image]
        if not images and not request.prompt.strip():
            raise RenderError("Nothing to render from: the shot has no prompt and no cast reference images.")
        return {"reference_images": images or None}, {"first_frame": False, "reference_handles": handles}

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
