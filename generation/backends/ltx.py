"""LTX-Video through diffusers: image-to-video from the shot's first frame (or, failing that, the
first cast reference image), text-to-video when there is no image at all.

LTX wants a frame count of 8k+1 (the VAE's temporal compression) and sizes that are multiples of
32; the request is rounded up and the extra frames are trimmed, and provenance records both.
"""

from __future__ import annotations

from pathlib import Path

from generation.backends.base import ProgressCallback, RenderRequest, RenderResult
from generation.backends.diffusion import (
    DiffusersBackend,
    RenderShape,
    cached_pipeline,
    describe_local_model,
    load_rgb_image,
    primary_reference_paths,
    require_model_folder,
)

DEFAULT_LTX_MODEL = "Lightricks/LTX-Video"
LTX_SIZE_MULTIPLE = 32  # LTX's check_inputs demands it whatever the VAE
IMAGE_PIPELINE = "LTXImageToVideoPipeline"


class LTXBackend(DiffusersBackend):
    name = "ltx"

    def __init__(
        self,
        models_dir: Path | str,
        device: str | None = None,
        *,
        model: str = DEFAULT_LTX_MODEL,
        fixed_shape: RenderShape | None = None,
    ):
        super().__init__(models_dir, device, fixed_shape=fixed_shape)
        self.model = model

    def model_for(self, request: RenderRequest) -> str:
        return request.model or self.model

    def describe_model(self, request: RenderRequest) -> tuple[str, str]:
        return describe_local_model(self.model_for(request), self.models_dir)

    def render(self, request: RenderRequest, on_progress: ProgressCallback) -> RenderResult:
        model_id = self.model_for(request)
        folder = require_model_folder(model_id, self.models_dir)
        # One load serves both pipelines: text-to-video reuses the image pipeline's components.
        image_pipe = cached_pipeline(IMAGE_PIPELINE, folder, self.device)
        start_image_path, start_image_source = self._start_image(request)
        pipe = image_pipe if start_image_path else text_pipeline_from(image_pipe)

        shape, keep = self.plan_shape(
            request, size_multiple=LTX_SIZE_MULTIPLE, frame_step=pipe.vae_temporal_compression_ratio
        )
        conditioning = {"image": load_rgb_image(start_image_path)} if start_image_path else {}
        result = self.call_pipeline(pipe, request, on_progress, model_id=model_id, folder=folder, shape=shape, keep=keep,
                                    frame_rate=request.fps, **conditioning)
        result.provenance["start_image"] = start_image_source
        return result

    @staticmethod
    def _start_image(request: RenderRequest) -> tuple[str | None, str]:
        """(path, where it came from): the first frame wins for continuity, then the first cast image."""
        if request.first_frame_path:
            return request.first_frame_path, "first_frame"
        references = primary_reference_paths(request)
        if references:
            handle = next(ref.handle for ref in request.references if ref.primary_image)
            return references[0], f"reference:{handle}"
        return None, "none"


def text_pipeline_from(image_pipe):
    """An LTXPipeline sharing the loaded components (no second copy of the weights)."""
    from diffusers import LTXPipeline  # lazy: diffusers loads only in the worker that renders (DESIGN.md)

    pipe = LTXPipeline(**image_pipe.components)
    pipe.set_progress_bar_config(disable=True)
    return pipe
