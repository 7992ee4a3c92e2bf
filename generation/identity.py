"""Identity scoring: how closely the sampled frames of a take keep each cast member's references.

Pure engine code: frames (RGB numpy arrays) and reference images in, one `IdentityScore` per cast
member out. No Django, no studio imports; the studio stores the scores and shows the verdicts.

- Characters: face embeddings from dlib's ResNet face-recognition model (`dlib-bin` with the model
  files of `face-recognition-models`): HOG face detector, 5-point landmarks, 128-d encodings. The
  score is the Euclidean distance to the closest reference face; the model's published
  same-person threshold is 0.6 (lower is closer). A take in which no face is found is reported as
  `no_face`, never as a score.
- Objects and locations: a local-feature match, SIFT keypoints + Lowe's ratio test + a RANSAC
  homography, scored as the number of inlier matches against the best reference image (higher is
  closer). The image-embedding models we know of (CLIP, DINO, torchvision's) fetch their weights
  from a hub at run time, which a worker here may not do, so this is a classical geometric match,
  named as what it is: it finds the same prop or place re-framed, scaled, turned or relit, not "a
  similar-looking" one.

Per cast member the take's score is the median over the sampled frames that could be scored, so
one badly lit frame does not flip the verdict; the best and worst frames are reported so a
reviewer can jump to them. Everything is deterministic: the same frames and references give the
same scores.

    frames = read_sampled_frames(take_path, samples=DEFAULT_SAMPLES)
    scores = score_frames(frames, [CastReferences("mara", "MARA", "character", (mara_rgb,))])
    scores[0].verdict()  # "matches MARA's references"
"""

from __future__ import annotations

import collections
import concurrent.futures
import enum
import functools
import hashlib
import importlib.metadata
import importlib.util
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from .backends.base import Reference
from .media import MediaError, probe, read_image_rgb, run_ffmpeg

# Characters: dlib's published same-person threshold for its ResNet encodings (lower is closer).
FACE_DISTANCE_THRESHOLD = 0.6
FACE_MODEL = "dlib_face_recognition_resnet_model_v1 (HOG detector, 5-point landmarks, 128-d)"
FACE_METHOD = "face embedding distance"
# A frame may show several people; each character is scored against the face that resembles them
# most, among the largest few (each encoding costs a ResNet pass).
MAX_FACES_PER_FRAME = 4
# Frames are searched for faces at this longer side first (HOG detection costs about the pixel
# count: 80 ms per 720p frame, 21 ms at 640x360); the landmarks and the encoding still use the
# full frame. A frame in which fewer faces are found at that size than the shot has characters is
# searched again at full size, so a small face in a wide or two-shot is not lost (measured in
# BENCHMARKS.md, "Identity scoring").
FACE_DETECT_MAX_SIDE = 640
# Features (SIFT) are computed on a second thread while dlib works on faces (bench/ turns it off
# to measure the difference).
PARALLEL_FEATURES = True

# Objects and locations: a frame "shows" a reference when at least this many one-to-one SIFT matches
# agree on one homography. Measured on 16 photographs bundled with scikit-image and matplotlib:
# unrelated pairs keep 0-7 inliers (RANSAC's chance agreements), a photograph re-framed, warped in
# perspective and brightened keeps 23-105, itself 28-1100. 12 sits between the two.
FEATURE_MIN_INLIERS = 12
FEATURE_MODEL = "local-feature match, SIFT+RANSAC inliers"
FEATURE_METHOD = "local-feature match, SIFT+RANSAC inliers"
# Features are computed on a greyscale copy this size: enough detail for props and places, and a
# bounded cost per frame whatever the project resolution.
FEATURE_MAX_SIDE = 640
FEATURE_RATIO_TEST = 0.75  # Lowe's ratio: keep a match only if clearly better than the runner-up
FEATURE_RANSAC_PIXELS = 5.0

# References are photographs of any size; shrinking them bounds detection cost without losing a
# portrait's face (the detector needs about 80 px, and reference faces are far larger).
REFERENCE_MAX_SIDE = 1024
DEFAULT_SAMPLES = 5  # evenly spaced frames per take (about one per second of a 5 s shot)

FACE_KINDS = frozenset({"character"})
FEATURE_KINDS = frozenset({"object", "location"})
SCORED_KINDS = FACE_KINDS | FEATURE_KINDS  # a "style" reference is a look, not an identity


class IdentityStatus(str, enum.Enum):
    MATCH = "match"
    DRIFT = "drift"
    NO_FACE = "no_face"  # a character's take with no detectable face: a result, never a zero
    NO_REFERENCE = "no_reference"  # nothing usable to compare with (no image, no face, no detail)


@dataclass(frozen=True)
class SampledFrame:
    index: int
    time_s: float
    rgb: np.ndarray  # (H, W, 3) uint8


@dataclass(frozen=True)
class CastReferences:
    """One cast member's reference images as RGB arrays (see `load_cast_references`)."""

    handle: str
    name: str
    kind: str  # character / object / location
    images: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class IdentityScore:
    handle: str
    name: str
    kind: str
    status: IdentityStatus
    score: float | None  # face distance (lower is closer) or inlier count (higher); None without a score
    threshold: float
    method: str
    frames_sampled: int
    frames_scored: int  # frames that had something to score (a face, for characters)
    references_used: int  # reference images that gave a face / enough features
    best_frame_index: int | None
    best_frame_time_s: float | None
    worst_frame_index: int | None
    worst_frame_time_s: float | None
    model: str
    model_version: str

    @property
    def higher_is_better(self) -> bool:
        return self.kind not in FACE_KINDS

    def verdict(self) -> str:
        """One line a reviewer can act on, e.g. "drifted: 0.71 vs threshold 0.6"."""
        return _VERDICTS[self.status](self)

    def to_dict(self) -> dict:
        """Plain JSON-ready values, for the studio to store or put in a manifest."""
        data = asdict(self)
        data["status"] = self.status.value
        data["verdict"] = self.verdict()
        return data


def _match_verdict(score: IdentityScore) -> str:
    return f"matches {score.name}'s references" + _partial_note(score)


def _drift_verdict(score: IdentityScore) -> str:
    if score.kind in FACE_KINDS:
        figures = f"{score.score:.2f} vs threshold {score.threshold:g}"
    else:
        figures = f"{score.score:g} matching features vs at least {score.threshold:g}"
    return f"drifted: {figures}" + _partial_note(score)


def _no_face_verdict(score: IdentityScore) -> str:
    return f"no face found in {score.frames_sampled} sampled frames"


def _no_reference_verdict(score: IdentityScore) -> str:
    if score.kind in FACE_KINDS:
        return f"no reference image of {score.name} shows a face"
    return f"no reference image of {score.name} has enough detail for a local-feature match"


def _partial_note(score: IdentityScore) -> str:
    if score.kind in FACE_KINDS and score.frames_scored < score.frames_sampled:
        return f" (face found in {score.frames_scored} of {score.frames_sampled} frames)"
    return ""


_VERDICTS = {
    IdentityStatus.MATCH: _match_verdict,
    IdentityStatus.DRIFT: _drift_verdict,
    IdentityStatus.NO_FACE: _no_face_verdict,
    IdentityStatus.NO_REFERENCE: _no_reference_verdict,
}


# --------------------------------------------------------------------------------------------
# Frames: which ones, and reading them from a take
# --------------------------------------------------------------------------------------------

def sample_frame_indices(frame_count: int, samples: int = DEFAULT_SAMPLES) -> list[int]:
    """`samples` evenly spaced frame indices: the centres of equal slices of the clip, so the
    first and last frames (often a fade or a held continuity frame) are not over-weighted."""
    if frame_count <= 0 or samples <= 0:
        return []
    samples = min(samples, frame_count)
    return [int((2 * slot + 1) * frame_count // (2 * samples)) for slot in range(samples)]


def read_sampled_frames(video_path: Path, samples: int = DEFAULT_SAMPLES, *, timeout: float = 120) -> list[SampledFrame]:
    """Decode the sampled frames of a video in one ffmpeg pass (select filter, raw RGB out)."""
    info = probe(Path(video_path), timeout=timeout)
    indices = sample_frame_indices(info.frame_count, samples)
    if not indices:
        raise MediaError(f"{Path(video_path).name} has no video frames")
    picked = "+".join(f"eq(n\\,{index})" for index in indices)
    completed = run_ffmpeg([
        "-loglevel", "error",
        "-i", str(Path(video_path).absolute()),  # absolute: a name can never read as a protocol
        "-map", "0:v:0",
        "-vf", f"select={picked}",
        "-fps_mode", "passthrough",
        "-frames:v", str(len(indices)),  # stop at the last sample instead of decoding to the end
        "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
    ], timeout=timeout)
    frame_bytes = info.width * info.height * 3
    if len(completed.stdout) != frame_bytes * len(indices):
        raise MediaError(f"{Path(video_path).name}: expected {len(indices)} frames, decoded {len(completed.stdout) // frame_bytes}")
    pixels = np.frombuffer(completed.stdout, dtype=np.uint8).reshape(len(indices), info.height, info.width, 3)
    fps = info.fps or 1.0
    return [SampledFrame(index, index / fps, pixels[slot]) for slot, index in enumerate(indices)]


def load_cast_references(references: Sequence[Reference]) -> list[CastReferences]:
    """The engine's `Reference`s (image paths) as RGB arrays, for the kinds that are scored."""
    return [
        CastReferences(ref.handle, ref.name, ref.kind, tuple(read_image_rgb(Path(path), REFERENCE_MAX_SIDE) for path in ref.image_paths))
        for ref in references
        if ref.kind in SCORED_KINDS
    ]


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------

def score_video(video_path: Path, cast: Sequence[CastReferences], samples: int = DEFAULT_SAMPLES) -> list[IdentityScore]:
    return score_frames(read_sampled_frames(video_path, samples), cast)


def score_frames(frames: Sequence[SampledFrame], cast: Sequence[CastReferences]) -> list[IdentityScore]:
    """One score per scored cast member, in cast order. Each frame's faces and features are
    computed once and shared by every cast member that needs them."""
    if not frames:
        raise ValueError("no frames to score: sample at least one frame of the take")
    scored_cast = [member for member in cast if member.kind in SCORED_KINDS]
    characters = sum(1 for m in scored_cast if m.kind in FACE_KINDS)
    wants_faces = characters > 0
    wants_features = any(m.kind in FEATURE_KINDS for m in scored_cast)
    if wants_faces and wants_features and PARALLEL_FEATURES:
        # OpenCV's SIFT releases the GIL: it runs on a second core while dlib finds and encodes faces.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="identity-sift") as pool:
            features = pool.submit(_features_of_frames, frames)
            frame_faces = _faces_of_frames(frames, characters)
            frame_features = features.result()
    else:
        frame_faces = _faces_of_frames(frames, characters) if wants_faces else []
        frame_features = _features_of_frames(frames) if wants_features else []
    scores = []
    for member in scored_cast:
        if member.kind in FACE_KINDS:
            scores.append(_score_character(member, frames, frame_faces))
        else:
            scores.append(_score_by_features(member, frames, frame_features))
    return scores


class _FrameScore(NamedTuple):
    frame: SampledFrame
    value: float


def _summarise(member: CastReferences, frames: Sequence[SampledFrame], per_frame: list[_FrameScore], *,
               references_used: int, threshold: float, lower_is_closer: bool, method: str, model: str,
               model_version: str) -> IdentityScore:
    """Median over the frames that could be scored, the best and worst of them, and the status."""
    common = dict(handle=member.handle, name=member.name, kind=member.kind, threshold=threshold, method=method,
                  frames_sampled=len(frames), frames_scored=len(per_frame), references_used=references_used,
                  model=model, model_version=model_version)
    if references_used == 0 or not per_frame:
        status = IdentityStatus.NO_REFERENCE if references_used == 0 else IdentityStatus.NO_FACE
        return IdentityScore(status=status, score=None, best_frame_index=None, best_frame_time_s=None,
                             worst_frame_index=None, worst_frame_time_s=None, **common)
    median = float(statistics.median(item.value for item in per_frame))
    # Ties go to the earliest frame (min/max keep the first), so the choice is deterministic.
    closest = min(per_frame, key=lambda item: item.value if lower_is_closer else -item.value)
    farthest = max(per_frame, key=lambda item: item.value if lower_is_closer else -item.value)
    matches = median <= threshold if lower_is_closer else median >= threshold
    return IdentityScore(
        status=IdentityStatus.MATCH if matches else IdentityStatus.DRIFT, score=round(median, 4),
        best_frame_index=closest.frame.index, best_frame_time_s=closest.frame.time_s,
        worst_frame_index=farthest.frame.index, worst_frame_time_s=farthest.frame.time_s, **common,
    )


# ---- characters: face embeddings -------------------------------------------------------------

class _FaceModels(NamedTuple):
    detector: object
    landmarks: object
    encoder: object
    version: str


@functools.lru_cache(maxsize=1)
def face_models() -> _FaceModels:
    """dlib's detector, landmark predictor and encoder, loaded once per process (about 100 MB)."""
    import dlib  # lazy: a native library and ~100 MB of models the web process never needs

    models = _face_model_folder()
    return _FaceModels(
        detector=dlib.get_frontal_face_detector(),
        landmarks=dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat")),
        encoder=dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat")),
        version=f"dlib {dlib.__version__}, face-recognition-models {_distribution_version('face-recognition-models')}",
    )


def _face_model_folder() -> Path:
    # Found without importing the package: its __init__ imports pkg_resources, which recent
    # setuptools no longer ships. The model files sit in its models/ folder.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face-recognition-models is not installed (pip install face-recognition-models)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def _distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def face_encodings(image: np.ndarray, *, upsample: int = 0, max_faces: int = MAX_FACES_PER_FRAME) -> list[np.ndarray]:
    """128-d encodings of the largest `max_faces` faces, largest first. With `upsample=0` the
    detector finds faces from about 80 px high; each upsample halves that and quadruples the cost."""
    models = face_models()
    rgb = _as_rgb(image)
    # RGB, not a grey copy of our own: dlib converts with luminance weights, and a plain channel
    # mean made the detector see the mission patch of the astronaut photograph as a larger face.
    boxes = sorted(models.detector(rgb, upsample), key=lambda box: (-box.area(), box.left(), box.top()))
    return [
        np.asarray(models.encoder.compute_face_descriptor(rgb, models.landmarks(rgb, box)), dtype=np.float64)
        for box in boxes[:max_faces]
    ]


def reference_face_encoding(image: np.ndarray) -> np.ndarray | None:
    """The face of a reference image (a portrait's subject): the detection the detector is most
    sure of, or None. Not simply the largest: in the astronaut portrait a mission patch is
    detected at the same size as her face (88 px both), and a re-encoded copy can tip the tie the
    wrong way (the patch scores 0.07, the face 1.6). Small or distant faces are looked for again at
    twice the resolution."""
    models = face_models()
    rgb = _as_rgb(image)
    for upsample in (0, 1):
        boxes, confidences, _ = models.detector.run(rgb, upsample, 0.0)
        if len(boxes):
            best = max(range(len(boxes)), key=lambda i: (confidences[i], boxes[i].area(), -boxes[i].left(), -boxes[i].top()))
            return np.asarray(models.encoder.compute_face_descriptor(rgb, models.landmarks(rgb, boxes[best])), dtype=np.float64)
    return None


def frame_face_encodings(image: np.ndarray, *, expected_faces: int = 1, max_faces: int = MAX_FACES_PER_FRAME) -> list[np.ndarray]:
    """`face_encodings` for a video frame: faces are detected on a copy at most
    FACE_DETECT_MAX_SIDE on a side, and encoded from the full-size frame, largest first. When
    fewer than `expected_faces` (the shot's characters) are found there, the frame is searched
    again at full size (faces from about 80 px high instead of 160 px at 720p)."""
    import dlib  # lazy: see face_models

    models = face_models()
    rgb = _as_rgb(image)
    scale = FACE_DETECT_MAX_SIDE / max(rgb.shape[:2])
    if scale >= 1:
        return face_encodings(rgb, max_faces=max_faces)
    import cv2  # lazy: see local_features

    small = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    found = models.detector(small, 0)
    if len(found) < min(expected_faces, max_faces):
        return face_encodings(rgb, max_faces=max_faces)
    boxes = [dlib.rectangle(round(box.left() / scale), round(box.top() / scale), round(box.right() / scale),
                            round(box.bottom() / scale)) for box in found]
    boxes.sort(key=lambda box: (-box.area(), box.left(), box.top()))
    return [
        np.asarray(models.encoder.compute_face_descriptor(rgb, models.landmarks(rgb, box)), dtype=np.float64)
        for box in boxes[:max_faces]
    ]


def _faces_of_frames(frames: Sequence[SampledFrame], expected_faces: int = 1) -> list[list[np.ndarray]]:
    return [frame_face_encodings(frame.rgb, expected_faces=expected_faces) for frame in frames]


def _score_character(member: CastReferences, frames: Sequence[SampledFrame], frame_faces: list[list[np.ndarray]]) -> IdentityScore:
    encodings = (_remembered("face", image, reference_face_encoding) for image in member.images)
    references = [found for found in encodings if found is not None]
    per_frame = []
    if references:
        for frame, faces in zip(frames, frame_faces):
            if faces:
                distance = min(float(np.linalg.norm(face - ref)) for face in faces for ref in references)
                per_frame.append(_FrameScore(frame, distance))
    return _summarise(member, frames, per_frame, references_used=len(references), threshold=FACE_DISTANCE_THRESHOLD,
                      lower_is_closer=True, method=FACE_METHOD, model=FACE_MODEL, model_version=face_models().version)


# ---- objects and locations: local-feature match ----------------------------------------------

class _Features(NamedTuple):
    points: np.ndarray  # (N, 2) float32 keypoint positions
    descriptors: np.ndarray | None  # (N, 128) float32


def local_features(image: np.ndarray) -> _Features:
    """SIFT keypoints and descriptors of a greyscale copy at most FEATURE_MAX_SIDE on a side."""
    import cv2  # lazy: OpenCV is a large native import only scoring workers need

    grey = cv2.cvtColor(_as_rgb(image), cv2.COLOR_RGB2GRAY)
    scale = FEATURE_MAX_SIDE / max(grey.shape)
    if scale < 1:
        grey = cv2.resize(grey, (round(grey.shape[1] * scale), round(grey.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    keypoints, descriptors = cv2.SIFT_create().detectAndCompute(grey, None)
    points = np.float32([keypoint.pt for keypoint in keypoints]).reshape(-1, 2)
    return _Features(points, descriptors)


def feature_inliers(reference: _Features, frame: _Features) -> int:
    """How many one-to-one ratio-test matches agree on one homography (RANSAC), 0 if none can."""
    import cv2  # lazy: see local_features

    if reference.descriptors is None or frame.descriptors is None or len(frame.points) < 2:
        return 0
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(reference.descriptors, frame.descriptors, k=2)
    good = [best for best, runner_up in (pair for pair in pairs if len(pair) == 2)
            if best.distance < FEATURE_RATIO_TEST * runner_up.distance]
    # One frame keypoint may be the "match" of many reference keypoints (a flat, repetitive frame);
    # keep only its best, or RANSAC happily counts a homography that collapses them onto one point.
    best_per_frame_point: dict[int, object] = {}
    for match in sorted(good, key=lambda m: (m.distance, m.queryIdx)):
        best_per_frame_point.setdefault(match.trainIdx, match)
    unique = sorted(best_per_frame_point.values(), key=lambda m: m.queryIdx)
    if len(unique) < 4:  # a homography needs four correspondences
        return 0
    source = reference.points[[m.queryIdx for m in unique]]
    target = frame.points[[m.trainIdx for m in unique]]
    # OpenCV's RANSAC seeds its own generator on every call, so the count is deterministic.
    homography, mask = cv2.findHomography(source, target, cv2.RANSAC, FEATURE_RANSAC_PIXELS)
    if homography is None or mask is None:
        return 0
    return int(mask.sum())


def _features_of_frames(frames: Sequence[SampledFrame]) -> list[_Features]:
    return [local_features(frame.rgb) for frame in frames]


def _score_by_features(member: CastReferences, frames: Sequence[SampledFrame], frame_features: list[_Features]) -> IdentityScore:
    import cv2  # lazy: see local_features

    # A reference with fewer keypoints than the threshold (a flat drawing) could never match.
    candidates = (_remembered("features", image, local_features) for image in member.images)
    references = [features for features in candidates if len(features.points) >= FEATURE_MIN_INLIERS]
    per_frame = []
    if references:
        per_frame = [_FrameScore(frame, float(max(feature_inliers(ref, features) for ref in references)))
                     for frame, features in zip(frames, frame_features)]
    return _summarise(member, frames, per_frame, references_used=len(references), threshold=FEATURE_MIN_INLIERS,
                      lower_is_closer=False, method=FEATURE_METHOD, model=FEATURE_MODEL,
                      model_version=f"opencv {cv2.__version__}")


# A worker scores take after take of the same cast: a reference's face encoding or features are
# computed once per process (keyed by its pixels, so an edited image is a new entry) and kept for
# the most recent REFERENCE_CACHE_SIZE images.
REFERENCE_CACHE_SIZE = 256
_reference_cache: collections.OrderedDict[tuple, object] = collections.OrderedDict()


def _remembered(purpose: str, image: np.ndarray, compute):
    array = np.ascontiguousarray(image)
    key = (purpose, array.shape, str(array.dtype), hashlib.blake2b(array.data, digest_size=20).hexdigest())
    if key in _reference_cache:
        _reference_cache.move_to_end(key)
        return _reference_cache[key]
    value = _reference_cache[key] = compute(array)
    while len(_reference_cache) > REFERENCE_CACHE_SIZE:
        _reference_cache.popitem(last=False)
    return value


def clear_reference_cache() -> None:
    _reference_cache.clear()


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 from greyscale, RGB or RGBA input."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {array.dtype}")
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"images must be (H, W, 3) RGB, got shape {array.shape}")
    return np.ascontiguousarray(array[..., :3])
