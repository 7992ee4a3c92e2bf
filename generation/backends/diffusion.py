"""Shared plumbing for the diffusers backends (wan, ltx, tiny): where weights live, which revision
they are, loading through the per-worker pipeline cache, quiet logging, seeding, progress and
turning pipeline output into uint8 frames.

torch, diffusers and transformers are imported inside functions only: the web process imports
this module (through a backend's describe_model) and must not pay for them.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from PIL import Image

from generation.backends.base import ModelNotAvailable, OutOfMemory, ProgressCallback, RenderError, RenderResult
from generation.backends.prompting import prompt_for
from generation.pipeline_cache import get_cache
from generation.runtime import current as current_runtime

MODELS_DIR_SETTING = "CONTINUITY_MODELS_DIR"
REVISION_FILE = ".revision"
_MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


# ---------------------------------------------------------------------------------------------
# Where the weights are, and which revision they are.


def local_folder_name(model_id: str) -> str:
    """The folder name under the models dir: the Hugging Face cache's own "owner--name" spelling."""
    return model_id.replace("/", "--")


def check_model_id(model_id: str) -> None:
    # Model ids come from requests; keep them to "owner/name" so they cannot walk out of models_dir.
    if not _MODEL_ID.match(model_id) or ".." in model_id:
        raise ModelNotAvailable(f"{model_id!r} is not a model id of the form 'owner/name'.")


def find_model_folder(model_id: str, models_dir: Path) -> Path | None:
    """The folder holding `model_id`'s weights on this machine, or None. Never downloads."""
    check_model_id(model_id)
    models_dir = Path(models_dir)
    for candidate in (models_dir / local_folder_name(model_id), models_dir / model_id):
        if (candidate / "model_index.json").is_file():
            return candidate
    return _find_in_hf_cache(model_id)


def _find_in_hf_cache(model_id: str) -> Path | None:
    if "/" not in model_id:
        return None
    try:
        from huggingface_hub import snapshot_download  # lazy: only a cache lookup needs it, and it is optional
        from huggingface_hub.errors import LocalEntryNotFoundError  # lazy: only a cache lookup needs it, and it is optional
    except ImportError:
        return None
    try:
        folder = Path(snapshot_download(model_id, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        return None
    return folder if (folder / "model_index.json").is_file() else None


def require_model_folder(model_id: str, models_dir: Path) -> Path:
    folder = find_model_folder(model_id, models_dir)
    if folder is None:
        raise ModelNotAvailable(
            f"Model {model_id!r} is not on this machine: looked in {Path(models_dir) / local_folder_name(model_id)} "
            f"and in the Hugging Face cache. Weights are never downloaded at render time: put the weights in "
            f"{Path(models_dir) / local_folder_name(model_id)} (e.g. `huggingface-cli download {model_id} "
            f"--local-dir ...`) or set {MODELS_DIR_SETTING} to the folder that holds them."
        )
    return folder


def folder_revision(folder: Path) -> str:
    """A revision string for provenance and the render signature.

    In order: a `.revision` file we (or the operator) wrote; the snapshot hash when the folder is in
    the Hugging Face cache; otherwise a hash of the configs (cheap, and it changes when the
    architecture or scheduler does; swapping weight files in place is the operator's to record).
    """
    revision_file = folder / REVISION_FILE
    if revision_file.is_file():
        return revision_file.read_text().strip()
    if folder.parent.name == "snapshots":
        return folder.name
    digest = hashlib.sha256()
    for config in sorted([folder / "model_index.json", *folder.glob("*/*config.json")]):
        digest.update(config.relative_to(folder).as_posix().encode())
        digest.update(config.read_bytes())
    return "config-sha256:" + digest.hexdigest()[:16]


def describe_local_model(model_id: str, models_dir: Path) -> tuple[str, str]:
    """(model id, revision) without importing torch; revision "" when the weights are not here
    (a web host need not hold them; the render on the worker records the real one)."""
    folder = find_model_folder(model_id, models_dir)
    return model_id, folder_revision(folder) if folder else ""


# ---------------------------------------------------------------------------------------------
# Loading.


def quiet_diffusers() -> None:
    """Keep worker logs readable: no tqdm bars or info chatter from diffusers/transformers, and
    make sure nothing below us tries the network."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import diffusers.utils.logging as diffusers_logging  # lazy: diffusers loads only in the worker that renders (DESIGN.md)
    import transformers.utils.logging as transformers_logging  # lazy: transformers loads only in the worker that renders (DESIGN.md)

    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()


def resolve_device(device: str | None) -> str:
    if device:
        return device
    import torch  # lazy: torch loads only in the worker that renders (DESIGN.md)

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_dtypes(device: str) -> dict[str, Any]:
    """bfloat16 on GPU with the VAE and image encoder kept in float32 (as the model cards advise);
    float32 everywhere on CPU."""
    import torch  # lazy: torch loads only in the worker that renders (DESIGN.md)

    if device.startswith("cuda"):
        return {"default": torch.bfloat16, "vae": torch.float32, "image_encoder": torch.float32}
    return {"default": torch.float32}


def cached_pipeline(pipeline_class_name: str, folder: Path, device: str) -> Any:
    """The pipeline for (class, folder, revision, device) from this worker's cache, loading it on a
    miss; the revision is in the key so weights replaced in place are loaded afresh. A load is
    reported to the render's runtime ("loading model… 40%"), so the take beats while it lasts."""
    key = (pipeline_class_name, str(folder), folder_revision(folder), device)
    runtime = current_runtime()
    runtime.loaded.update({"pipeline": pipeline_class_name, "model": folder.name, "device": device})
    return get_cache().get(key, lambda: load_pipeline(pipeline_class_name, folder, device, on_load=runtime.report_load))


def load_pipeline(pipeline_class_name: str, folder: Path, device: str, *, on_load=None) -> Any:
    quiet_diffusers()
    import diffusers  # lazy: diffusers loads only in the worker that renders (DESIGN.md)

    report = on_load or (lambda fraction, what: None)
    pipeline_class = getattr(diffusers, pipeline_class_name)
    report(0.0, "loading model")
    try:
        with component_load_progress(report):
            pipe = pipeline_class.from_pretrained(str(folder), local_files_only=True, dtype=load_dtypes(device))
    except (OSError, ValueError) as error:  # missing or mismatched component files
        raise ModelNotAvailable(f"Could not load {pipeline_class_name} from {folder}: {error}") from error
    report(0.95, "moving model to " + device)
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    report(1.0, "model loaded")
    return pipe


@contextmanager
def component_load_progress(report) -> Iterator[None]:
    """Hear diffusers' "Loading pipeline components..." loop, one report per component loaded.

    diffusers reports that loop only through its logging.tqdm wrapper (looked up on the module at
    call time), so for the load we put a counting wrapper there; every other use (shards with a
    total, no iterable) goes to the original. Safe in a worker: it renders one take at a time.
    """
    import diffusers.utils.logging as diffusers_logging  # lazy: diffusers loads only in the worker that renders (DESIGN.md)

    original = diffusers_logging.tqdm

    def counting(*args, **kwargs):
        iterable = args[0] if args else kwargs.get("iterable")
        if iterable is None or not str(kwargs.get("desc", "")).startswith("Loading pipeline components"):
            return original(*args, **kwargs)
        items = list(iterable)

        def components():
            for done, item in enumerate(items):
                report(0.9 * done / max(1, len(items)), f"loading model ({item[0]})" if isinstance(item, tuple) else "loading model")
                yield item
            report(0.9, "loading model")

        return components()

    diffusers_logging.tqdm = counting
    try:
        yield
    finally:
        diffusers_logging.tqdm = original


# ---------------------------------------------------------------------------------------------
# Calling.


@dataclass(frozen=True)
class RenderShape:
    """What a pipeline is actually asked for, after rounding to what the model accepts."""

    width: int
    height: int
    frames: int

    def as_dict(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height, "frames": self.frames}


def round_to_multiple(value: int, multiple: int) -> int:
    # Nearest multiple, halves rounding up (Python's round() would send 40 -> 32 for 16).
    return max(multiple, int(value / multiple + 0.5) * multiple)


def frames_of_form(requested: int, step: int) -> int:
    """The smallest count of the form step*k + 1 that is at least `requested` (so the shot is
    never short; extra frames are trimmed)."""
    return max(1, math.ceil(max(requested - 1, 0) / step)) * step + 1


def seeded_generator(seed: int) -> Any:
    """A CPU generator: the initial noise is then the same on every machine and GPU model, so a
    seed means the same take everywhere; diffusers moves the noise to the device."""
    import torch  # lazy: torch loads only in the worker that renders (DESIGN.md)

    return torch.Generator(device="cpu").manual_seed(int(seed) % (2**63))


def progress_callback(on_progress: ProgressCallback, steps: int) -> Callable:
    """Bridge diffusers' callback_on_step_end to on_progress(step, total).

    Raising from on_progress (RenderCancelled) propagates out of the pipeline call: diffusers calls
    the callback directly inside its denoising loop without catching.
    """

    def callback_on_step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
        total = getattr(pipe, "num_timesteps", None) or steps
        on_progress(step + 1, total)
        return callback_kwargs

    return callback_on_step_end


def frames_to_uint8(video: Any) -> list[np.ndarray]:
    """(1, F, H, W, 3) or (F, H, W, 3) floats in [0, 1] (output_type="np") -> F uint8 RGB frames."""
    array = np.asarray(video)
    if array.ndim == 5:
        array = array[0]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise RenderError(f"The pipeline returned frames of shape {array.shape}, expected (F, H, W, 3).")
    as_bytes = np.clip(array.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return [np.ascontiguousarray(frame) for frame in as_bytes]


def load_rgb_image(path: str) -> Any:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError) as error:
        raise RenderError(f"Could not read image {path}: {error}") from error


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run with `count` intra-op threads, then restore. torch's thread count is process-wide, which
    is fine in a worker that renders one take at a time."""
    import torch  # lazy: torch loads only in the worker that renders (DESIGN.md)

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_pipeline(pipe: Any, **kwargs: Any) -> Any:
    """Call the pipeline, turning failures the user can act on into RenderError. RenderCancelled
    and anything unexpected propagate unchanged."""
    import torch  # lazy: torch loads only in the worker that renders (DESIGN.md)

    try:
        with torch.inference_mode():
            return pipe(**kwargs)
    except torch.OutOfMemoryError as error:  # the runner retries once with the low-memory fallback
        raise OutOfMemory(
            f"out of memory rendering {kwargs.get('width')}x{kwargs.get('height')}, {kwargs.get('num_frames')} frames"
        ) from error
    except ValueError as error:  # diffusers' check_inputs: sizes, frame counts, prompt types
        raise RenderError(f"The pipeline refused the request: {error}") from error


# ---------------------------------------------------------------------------------------------
# What the wan and ltx backends share.


class DiffusersBackend:
    """Holds where weights live and which device renders; subclasses say which pipeline to call.

    `fixed_shape` pins the rendered size and frame count whatever the request asks (the tiny
    backend renders 64x64 and lets the encoder scale up to the house size); otherwise the request
    is rounded to what the model accepts and trimmed back to the requested frame count.
    """

    name = "diffusers"

    def __init__(self, models_dir: Path | str, device: str | None = None, *, fixed_shape: RenderShape | None = None):
        self.models_dir = Path(models_dir)
        self._device = device
        self.fixed_shape = fixed_shape

    @property
    def device(self) -> str:
        # Resolved on first use, in the worker: asking torch here would import it in the web process.
        if self._device is None:
            self._device = resolve_device(None)
        return self._device

    def plan_shape(self, request, *, size_multiple: int, frame_step: int) -> tuple[RenderShape, int]:
        """(shape to render, frames to keep)."""
        if self.fixed_shape is not None:
            return self.fixed_shape, self.fixed_shape.frames
        shape = RenderShape(
            width=round_to_multiple(request.width, size_multiple),
            height=round_to_multiple(request.height, size_multiple),
            frames=frames_of_form(request.frames, frame_step),
        )
        return shape, min(request.frames, shape.frames)

    def call_pipeline(self, pipe, request, on_progress, *, model_id: str, folder: Path, shape: RenderShape, keep: int,
                      **pipeline_arguments):
        """Run the pipeline the same way for every diffusers backend and say what produced the frames."""
        optional = optional_call_arguments(request)
        prompt = prompt_for(request)  # the shot's size, move and lens as words: the one form, shown to users
        runtime = current_runtime()
        fallback = apply_low_memory(pipe, self.device) if runtime.low_memory else []
        try:
            with runtime.model_call():
                output = self._run(pipe, request, prompt, on_progress, shape, pipeline_arguments, optional)
        finally:
            undo_low_memory(pipe, fallback)
        frames = frames_to_uint8(output.frames)[:keep]
        revision = folder_revision(folder)
        provenance = base_provenance(
            backend=self.name, pipe_class=type(pipe).__name__, model_id=model_id, revision=revision, folder=folder,
            device=self.device, request=request, shape=shape, kept_frames=len(frames), call_arguments=optional,
        )
        provenance["prompt_sent"] = prompt
        if fallback:
            provenance["memory_fallback"] = ", ".join(fallback)
        return RenderResult(frames=frames, frame_count=len(frames), model=model_id, revision=revision, provenance=provenance)

    def _run(self, pipe, request, prompt: str, on_progress, shape: RenderShape, pipeline_arguments: dict, optional: dict):
        return run_pipeline(
            pipe,
            prompt=prompt,
            height=shape.height,
            width=shape.width,
            num_frames=shape.frames,
            num_inference_steps=max(1, request.steps),
            generator=seeded_generator(request.seed),
            callback_on_step_end=progress_callback(on_progress, max(1, request.steps)),
            output_type="np",
            **pipeline_arguments,
            **optional,
        )


def apply_low_memory(pipe: Any, device: str) -> list[str]:
    """The documented fallback after an out-of-memory (generation/runtime.py LOW_MEMORY_FALLBACK):
    VAE tiling where the VAE has it, model CPU offload on CUDA. Returns what was applied."""
    applied = []
    vae = getattr(pipe, "vae", None)
    if vae is not None and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
        applied.append("VAE tiling")
    if device.startswith("cuda") and hasattr(pipe, "enable_model_cpu_offload"):
        pipe.enable_model_cpu_offload()
        applied.append("model CPU offload")
    return applied


def undo_low_memory(pipe: Any, applied: list[str]) -> None:
    """Leave the cached pipeline as the next take expects it: tiling off; an offloaded pipeline is
    dropped from the cache (offload cannot be undone in place), so the next take loads it afresh."""
    if "VAE tiling" in applied:
        pipe.vae.disable_tiling()
    if "model CPU offload" in applied:
        get_cache().clear()


def primary_reference_paths(request) -> list[str]:
    return [ref.primary_image for ref in request.references if ref.primary_image]


def optional_call_arguments(request) -> dict[str, Any]:
    """Pipeline arguments a request may set through `extra`; absent ones keep diffusers' defaults."""
    arguments = {}
    if request.extra.get("negative_prompt"):
        arguments["negative_prompt"] = str(request.extra["negative_prompt"])
    if request.extra.get("guidance_scale") is not None:
        arguments["guidance_scale"] = float(request.extra["guidance_scale"])
    return arguments


def base_provenance(*, backend: str, pipe_class: str, model_id: str, revision: str, folder: Path, device: str,
                    request, shape: RenderShape, kept_frames: int, call_arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "backend": backend,
        "pipeline": pipe_class,
        "model": model_id,
        "revision": revision,
        "weights_folder": str(folder),
        "device": device,
        "requested": {"width": request.width, "height": request.height, "frames": request.frames},
        "rendered": shape.as_dict(),
        "frames_kept": kept_frames,
        "steps": request.steps,
        "seed": request.seed,
        "generator": "torch.Generator(cpu)",
        **{name: value for name, value in call_arguments.items()},
    }
