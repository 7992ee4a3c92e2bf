"""The real Wan and LTX diffusers classes with tiny random weights, built in code.

`build_tiny_*` construct the same pipeline classes the GPU backends use, with component sizes taken
from diffusers' own fast tests, seeded so every build is identical, and `save_pretrained` them. The
wan/ltx backends then load them with `from_pretrained(local_files_only=True)` exactly as they load
real weights, so tests and laptops exercise the real loading, conditioning, callback and output
code without a GPU or a download. The frames are noise-like; that is the point.

Nothing here may download: the tokenizer is a word-level vocabulary built here, and the text
encoders are built from configs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Callable

from generation.backends.base import ProgressCallback, RenderRequest, RenderResult
from generation.backends.diffusion import REVISION_FILE, RenderShape, local_folder_name, quiet_diffusers, torch_threads
from generation.backends.ltx import LTXBackend
from generation.backends.wan import WanBackend

TINY_WAN_VACE = "continuity/tiny-wan-vace"
TINY_LTX = "continuity/tiny-ltx"
# Bump when a builder changes: it is the revision of the tiny models (signature and provenance),
# and a folder built from an older recipe is rebuilt.
TINY_RECIPE = "continuity-tiny-v1"

TINY_WAN_SHAPE = RenderShape(width=64, height=64, frames=17)
TINY_LTX_SHAPE = RenderShape(width=64, height=64, frames=17)

# A word-level vocabulary is enough for random weights; unknown words map to <unk>.
_SPECIAL_TOKENS = ["<pad>", "</s>", "<unk>"]
_WORDS = (
    "a an the and or of in on at to with from by into over under near behind through "
    "man woman child girl boy dog cat car door window street room city house forest sea sky "
    "walks runs looks turns sits stands opens closes holds smiles cries falls rain night day "
    "light dark red blue green white black slow fast close wide shot camera pan tilt push orbit "
    "static face hand eyes hair coat hat table chair phone letter gun cup fire smoke snow sun "
    "dance monkey negative"
).split()


def build_tiny_tokenizer():
    """A T5-style fast tokenizer (appends </s>, pads with <pad>) over a tiny fixed vocabulary."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors  # lazy: tokenizers loads only where tiny models are built
    from transformers import PreTrainedTokenizerFast  # lazy: transformers loads only in the worker that renders (DESIGN.md)

    vocabulary = {token: index for index, token in enumerate(_SPECIAL_TOKENS + _WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", vocabulary["</s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=512
    )


def _tiny_t5_config(config_class, vocab_size: int):
    return config_class(
        vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=32, num_layers=2, num_decoder_layers=0, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=16, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0, dropout_rate=0.0,
    )


def _tiny_wan_vae():
    import torch  # lazy: torch loads only in the worker that renders (DESIGN.md)
    from diffusers import AutoencoderKLWan  # lazy: diffusers loads only in the worker that renders (DESIGN.md)

    torch.manual_seed(0)
    return AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])


def _tiny_wan_text_parts():
    import torch  # lazy: torch loads only in the worker that renders (DESIGN.md)
    from transformers import UMT5Config, UMT5EncoderModel  # lazy: transformers loads only in the worker that renders (DESIGN.md)

    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(_tiny_t5_config(UMT5Config, len(tokenizer)))
    return tokenizer, text_encoder


def build_tiny_wan_vace(path: Path | str) -> Path:
    return _save(make_tiny_wan_vace(), path)


def make_tiny_wan_vace():
    """The pipeline in memory (seeded, so every call gives the same weights)."""
    quiet_diffusers()
    import torch  # lazy: torch loads only in the worker that renders (DESIGN.md)
    from diffusers import FlowMatchEulerDiscreteScheduler, WanVACEPipeline, WanVACETransformer3DModel  # lazy: diffusers loads only in the worker that renders (DESIGN.md)

    tokenizer, text_encoder = _tiny_wan_text_parts()
    torch.manual_seed(0)
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=3, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32, vace_layers=[0, 2], vace_in_channels=96,
    )
    pipe = WanVACEPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=_tiny_wan_vae(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), transformer=transformer,
    )
    return pipe


def build_tiny_ltx(path: Path | str) -> Path:
    return _save(make_tiny_ltx(), path)


def make_tiny_ltx():
    """The pipeline in memory (seeded, so every call gives the same weights)."""
    quiet_diffusers()
    import torch  # lazy: torch loads only in the worker that renders (DESIGN.md)
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXImageToVideoPipeline, LTXVideoTransformer3DModel  # lazy: diffusers loads only in the worker that renders (DESIGN.md)
    from transformers import T5Config, T5EncoderModel  # lazy: transformers loads only in the worker that renders (DESIGN.md)

    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4, attention_head_dim=8,
        cross_attention_dim=32, num_layers=1, caption_channels=32,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False), decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False), upsample_factor=(1, 1, 1, 1), timestep_conditioning=False,
        patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False,
    )
    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(_tiny_t5_config(T5Config, len(tokenizer)))
    pipe = LTXImageToVideoPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
        transformer=transformer,
    )
    return pipe


def _save(pipe, path: Path | str) -> Path:
    path = Path(path)
    pipe.save_pretrained(str(path), safe_serialization=True)
    (path / REVISION_FILE).write_text(TINY_RECIPE + "\n")
    return path


TINY_BUILDERS: dict[str, Callable[[Path], Path]] = {
    TINY_WAN_VACE: build_tiny_wan_vace,
    TINY_LTX: build_tiny_ltx,
}
_build_lock = threading.Lock()


def ensure_tiny_models(models_dir: Path | str) -> dict[str, Path]:
    """Build the tiny models under models_dir unless they are already there; {model id: folder}.

    Each is built in a temporary folder beside its final place and renamed into place, so a
    concurrent worker sees either no folder or a complete one, never half of one.
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    folders = {}
    with _build_lock:
        for model_id, builder in TINY_BUILDERS.items():
            folder = models_dir / local_folder_name(model_id)
            if not _is_current_build(folder):
                _build_into_place(builder, folder)
            folders[model_id] = folder
    return folders


def _is_current_build(folder: Path) -> bool:
    revision_file = folder / REVISION_FILE
    return revision_file.is_file() and revision_file.read_text().strip() == TINY_RECIPE


def _build_into_place(builder: Callable[[Path], Path], folder: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.building-", dir=folder.parent))
    try:
        builder(staging)
        os.chmod(staging, 0o755)  # mkdtemp made it private; workers under other users must read it
        if folder.exists() and not _is_current_build(folder):
            # An older recipe: move it aside (a rename, so readers never see it half-deleted).
            retired = folder.parent / f".{folder.name}.retired-{uuid.uuid4().hex[:8]}"
            try:
                os.rename(folder, retired)
            except FileNotFoundError:  # another worker retired it first
                pass
            shutil.rmtree(retired, ignore_errors=True)
        try:
            os.rename(staging, folder)
        except OSError:
            if not _is_current_build(folder):  # someone else won the race with a good build: fine
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class TinyBackend:
    """The wan (and, on request, ltx) backend code path on tiny weights built on first use.

    Renders at 64x64, 17 frames whatever the request asks; the encoder scales to the house size.
    request.model may be "continuity/tiny-ltx" to go through the LTX backend instead.
    """

    name = "tiny"

    def __init__(self, models_dir: Path | str, device: str | None = None):
        self.models_dir = Path(models_dir)
        self.wan = WanBackend(self.models_dir, device, model=TINY_WAN_VACE, fixed_shape=TINY_WAN_SHAPE)
        self.ltx = LTXBackend(self.models_dir, device, model=TINY_LTX, fixed_shape=TINY_LTX_SHAPE)

    def describe_model(self, request: RenderRequest) -> tuple[str, str]:
        # The tiny models are a pure function of the recipe, so the revision is known before building.
        return self._model_id_for(request), TINY_RECIPE

    def render(self, request: RenderRequest, on_progress: ProgressCallback) -> RenderResult:
        ensure_tiny_models(self.models_dir)
        delegate = self.ltx if request.model == TINY_LTX else self.wan
        # Tensors this small gain nothing from torch's thread pool, and on a busy machine its
        # spin-waits cost far more than the work (measured: 9.4 s vs 0.4 s of CPU per take on two
        # cores at load 6.5). One thread keeps tests and laptops fast.
        with torch_threads(1):
            result = delegate.render(self._for_tiny(request), on_progress)
        result.provenance["backend"] = self.name
        result.provenance["delegate"] = delegate.name
        return result

    def _model_id_for(self, request: RenderRequest) -> str:
        if request.model == TINY_LTX:
            return TINY_LTX
        return TINY_WAN_VACE  # continuity too: VACE keeps the first frame (wan.py)

    def _for_tiny(self, request: RenderRequest) -> RenderRequest:
        # Only the tiny weights exist here: any other model named in the request is ignored.
        return replace(request, model=TINY_LTX if request.model == TINY_LTX else "")
