"""keypoint-anim: a first order motion model (FOMM) face video codec.

The generative codec of Siarohin et al., "First Order Motion Model for Image
Animation", NeurIPS 2019 (``qa_platform.codec.fomm``), used as a codec the way the
GFVC literature does (e.g. the JVET GFVC anchors): the decoder animates a
conventionally coded key frame with the keypoints of every frame.

Bitstream (one FaceQA bitstream file, two sections):

1. key frames (``qa_platform.codec.key_frames``): frame 0 and any refresh, intra
   coded by x265 (or ``key_codec``) at ``key_qp``;
2. feature stream (``qa_platform.codec.feature_coding``): per frame the K driving
   keypoints and, for models with Jacobians, their 2x2 local affine maps,
   quantised with one step ``q`` and coded by closed-loop DPCM and adaptive
   range coding, keypoints and Jacobians in separate context groups.

Feature units: everything is in pixels of the coded frame (the SRC's width
W): a keypoint (x, y) in [-1, 1] is sent as (x + 1) / 2 x (W - 1); a
Jacobian entry j is sent as j x W / 4, the displacement in pixels it causes
a quarter of the frame away from its keypoint. So ``q`` is the quantisation
step in pixels for both, and each sent value is within q / 2 pixels.

The decoder computes the key frame's own keypoints from the *decoded* key
frame (no bits) and animates it with the decoded driving keypoints of each
frame (FOMM's reconstruction mode, absolute keypoints); it never reads the
source. The model runs at its checkpoint's size (64, 128 or 256 px): frames
of another size are resized to it on the way in (area filter) and back out
(bicubic). The encoder's keypoints come from the source frames.

Reference structure (``refs``, ``qa_platform.codec.key_frames``): ``"last"``
(the default) animates the last key frame; ``"bidir"`` animates each frame
from the key frames before and after it and blends the two predictions with
weights linear in temporal distance (the last frame is a key frame too;
structural delay ``key_period - 1`` frames, in the HRC label); ``"multi"``
keeps the last four key frames and animates the one the encoder chose by
PSNR, signalled per frame in a third section. With ``"bidir"`` and
``"multi"`` a key frame shows its decoded picture itself (FOMM does not give
it back exactly when animated from itself).

HRC parameters: ``checkpoint`` (the checkpoint's SHA-256, 16 to 64 hex
digits; the checkpoint file is found in ``qa_platform.codec.checkpoints.codec_folder
("keypoint-anim")`` and its hash is verified on every use), ``q`` (pixels,
``Q_RANGE``), the key-frame parameters ``key_qp``, ``key_period``,
``key_threshold_db``, ``key_codec`` and ``refs``.
"""
import functools
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from qa_platform.codec import (
    KEY_FRAME_PARAMS,
    LAST,
    LIBRARY_VERSION,
    MULTI,
    REFS,
    SUFFIX,
    TARGET_KBPS,
    BitstreamError,
    BitstreamHeader,
    CheckpointError,
    Codec,
    CodecError,
    Device,
    Family,
    Fomm,
    KeyFramePolicy,
    Keypoints,
    SourceClip,
    check_decoded,
    check_frames,
    choose_references,
    code_key_frames,
    codec_folder,
    decode_features,
    decode_key_frames,
    default_device,
    delay_note,
    encode_features,
    find_checkpoint,
    frames_to_tensor,
    latest_checkpoint,
    load_checkpoint,
    model_from_checkpoint,
    only_file,
    pack_choices,
    plan_frames,
    quantise_closed_loop,
    read_bitstream,
    read_checkpoint,
    register_codec,
    render,
    resize_clip,
    unpack_choices,
    write_bitstream,
)

NAME = "keypoint-anim"
Q_RANGE = (0.05, 16.0)
# A Jacobian entry is sent as the displacement it causes this fraction of the frame side from its keypoint.
JACOBIAN_REACH = 0.25
# Frames per forward pass.
CPU_BATCH = 8
CUDA_BATCH = 64
# (q in pixels, key_qp), lowest rate first; the checkpoint is the latest one found.
DEFAULT_POINTS = ((4.0, 47), (2.0, 42), (1.0, 37), (0.5, 32))

# Models loaded in this process, by (checkpoint SHA-256, device).
_MODELS: dict[tuple[str, str], Fomm] = {}


@functools.cache
def device() -> torch.device:
    """CUDA when present, else the CPU (with a logged warning, once per process)."""
    return default_device(f"{NAME} runs its networks")


def load_model(reference: str, on: torch.device) -> tuple[str, Fomm]:
    """The model of the checkpoint named by ``reference`` (hex SHA-256 prefix): (full SHA-256, model in eval mode).

    The file's hash is verified on every call; the network is built once per
    process, checkpoint and device. Raises ``CodecError`` (with
    ``CheckpointError``'s message) when the checkpoint is missing, ambiguous
    or altered.
    """
    try:
        path = find_checkpoint(reference, codec_folder(NAME))
        _, digest = read_checkpoint(path)
        key = (digest, on.type)
        if key not in _MODELS:
            _MODELS[key] = model_from_checkpoint(load_checkpoint(path), on)
    except CheckpointError as exc:
        raise CodecError(f"{NAME}: {exc}") from exc
    return digest, _MODELS[key]


def _batches(count: int, on: torch.device):
    size = CUDA_BATCH if on.type == "cuda" else CPU_BATCH
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


@torch.inference_mode()
def detect_keypoints(model: Fomm, frames: np.ndarray, on: torch.device) -> Keypoints:
    """Keypoints of uint8 (T, H, W, 3) frames (resized to the model size), on the CPU: value (T, K, 2)."""
    small = resize_clip(frames, model.config.size)
    found = [model.kp_detector(frames_to_tensor(small[part], on)) for part in _batches(len(frames), on)]
    jacobian = None if found[0].jacobian is None else torch.cat([k.jacobian for k in found]).cpu()
    return Keypoints(torch.cat([k.value for k in found]).cpu(), jacobian)


def keypoints_to_features(keypoints: Keypoints, width: int) -> np.ndarray:
    """Keypoints -> features float64 (T, D) in pixels of a ``width``-wide frame (module docstring).

    D = 2K (positions) + 4K (Jacobians, when present).
    """
    parts = [(keypoints.value.double().numpy() + 1) / 2 * (width - 1)]
    if keypoints.jacobian is not None:
        parts.append(keypoints.jacobian.double().numpy() * JACOBIAN_REACH * width)
    return np.concatenate([part.reshape(len(part), -1) for part in parts], axis=1)


def features_to_keypoints(features: np.ndarray, num_kp: int, jacobians: bool, width: int) -> Keypoints:
    """Invert :func:`keypoints_to_features`: float32 Keypoints of T frames."""
    value = torch.from_numpy(features[:, :2 * num_kp] / (width - 1) * 2 - 1).float().view(-1, num_kp, 2)
    jacobian = None
    if jacobians:
        jacobian = torch.from_numpy(features[:, 2 * num_kp:] / (JACOBIAN_REACH * width)).float().view(-1, num_kp, 2, 2)
    return Keypoints(value, jacobian)


def feature_groups(num_kp: int, jacobians: bool) -> np.ndarray:
    """Context group per feature: 0 for positions, 1 for Jacobian entries: int (D,)."""
    return np.repeat([0, 1], [2 * num_kp, 4 * num_kp if jacobians else 0])


@torch.inference_mode()
def animate(model: Fomm, key_frame: np.ndarray, driving: Keypoints, width: int, on: torch.device) -> np.ndarray:
    """Frames animated from one decoded key frame uint8 (H, W, 3) with driving Keypoints of T frames.

    The key frame's keypoints are detected on the key frame itself. Returns
    uint8 (T, H, W, 3), resized back from the model size when it differs.
    """
    size = model.config.size
    source = frames_to_tensor(resize_clip(key_frame[None], size), on)
    kp_source = model.kp_detector(source)
    out = []
    for part in _batches(len(driving.value), on):
        count = part.stop - part.start
        prediction = model.generator(source.expand(count, -1, -1, -1), kp_source.expand(count),
                                     driving[part].to(on))["prediction"]
        out.append((prediction.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy())
    return resize_clip(np.concatenate(out), width)


class _LatestCheckpointRatePoints:
    """``default_rate_points``: the ``DEFAULT_POINTS`` with the latest checkpoint found, read when asked;
    empty when there is none (``unavailable_reason`` says so)."""

    def __get__(self, instance, owner) -> tuple[dict, ...]:
        latest = latest_checkpoint(codec_folder(NAME))
        if latest is None:
            return ()
        return tuple({"checkpoint": latest.stem[:16], "q": q, "key_qp": key_qp} for q, key_qp in DEFAULT_POINTS)


@register_codec
class KeypointAnim(Codec):
    """Key frames by x265 plus FOMM keypoints (and Jacobians); the decoder animates the key frame."""

    name = NAME
    version = f"1 (FOMM, torch {torch.__version__}, {LIBRARY_VERSION})"
    family = Family.GENERATIVE
    device = Device.GPU
    description = "FOMM keypoint animation: x265 key frames + DPCM/range-coded keypoints and Jacobians"
    param_names = ("checkpoint", "q", *KEY_FRAME_PARAMS, REFS)
    default_rate_points = _LatestCheckpointRatePoints()
    # training.services trains codecs that declare this recipe (training.fomm_training).
    training_recipe = "fomm"

    def unavailable_reason(self) -> str:
        folder = codec_folder(NAME)
        if latest_checkpoint(folder) is None:
            return (f"no {NAME} checkpoint in {folder}: train one with "
                    f"`python manage.py train_codec {NAME} --epochs N` (or set FACEQA_CHECKPOINT_DIR)")
        return ""

    def execution_device(self) -> str:
        return device().type

    def rate_ladder(self) -> list[dict]:
        """The latest checkpoint at key_qp 51 down to 22, q halving every 5 QP (q = 1 px at key_qp 37,
        as ``DEFAULT_POINTS``); empty without a checkpoint."""
        latest = latest_checkpoint(codec_folder(NAME))
        if latest is None:
            return []
        return [{"checkpoint": latest.stem[:16], "q": float(np.clip(2 ** ((key_qp - 37) / 5), *Q_RANGE)),
                 "key_qp": key_qp} for key_qp in range(51, 21, -1)]

    def rate_params(self) -> set[str]:
        """``q`` and ``key_qp`` (what the ladder moves, checkpoint or not) and ``target_kbps``: an HRC's
        curve is the codec, its checkpoint and its other key-frame settings, even where no checkpoint is."""
        return {"q", "key_qp", TARGET_KBPS}

    def label(self, params: dict) -> str:
        """The base label plus the structural delay of ``refs="bidir"`` (e.g. ``(delay 24 frames)``)."""
        return " ".join(filter(None, [super().label(params), delay_note(params)]))

    def feature_residuals(self, clip: SourceClip, params: dict) -> tuple[np.ndarray, np.ndarray]:
        """The DPCM residuals of the keypoint (and Jacobian) features and their context groups."""
        reference, q, _ = self._check(params)
        frames = check_frames(clip.frames)
        on = device()
        _, model = load_model(reference, on)
        features = keypoints_to_features(detect_keypoints(model, frames, on), frames.shape[2])
        return quantise_closed_loop(features, q), feature_groups(model.config.num_kp, model.config.jacobians)

    def encode(self, clip: SourceClip, params: dict, workdir: Path) -> list[Path]:
        """Code the key frames and every frame's keypoints; write one bitstream file into ``workdir``."""
        reference, q, policy = self._check(params)
        frames = check_frames(clip.frames)
        count, height, width = frames.shape[:3]
        if height != width:
            raise CodecError(f"{NAME} codes square face crops (SRCs are square); got {width}x{height}")
        on = device()
        _, model = load_model(reference, on)
        config = model.config
        stream, reconstructed = encode_features(keypoints_to_features(detect_keypoints(model, frames, on), width), q,
                                                feature_groups(config.num_kp, config.jacobians))
        driving = features_to_keypoints(reconstructed, config.num_kp, config.jacobians, width)

        def reconstruct(decoded_key: np.ndarray, key_index: int, t: int) -> np.ndarray:
            return animate(model, decoded_key, driving[t:t + 1], width, on)[0]

        key_frames = code_key_frames(frames, Fraction(clip.fps), policy, reconstruct)
        sections = [key_frames.payload, stream.data]
        if policy.refs == MULTI:
            def animate_from(key: int, ts: list[int]) -> np.ndarray:
                return animate(model, key_frames.decoded[key], driving[torch.tensor(ts)], width, on)

            choices = choose_references(frames, key_frames.indices, animate_from)
            sections.append(pack_choices(choices, key_frames.indices))
        header = BitstreamHeader(codec=self.name, params={"checkpoint": reference, "q": q, **policy.as_params()},
                                 width=width, height=height, fps=clip.fps, frame_count=count)
        return [write_bitstream(Path(workdir) / f"{self.name}{SUFFIX}", header, sections)]

    def decode(self, bitstream: list[Path]) -> np.ndarray:
        """Animate the decoded key frames with the decoded keypoints (as ``refs`` says): uint8 (T, H, W, 3) RGB."""
        path = only_file(bitstream)
        header, sections = read_bitstream(path, codec=self.name)
        reference, q, policy = self._check(header.params)
        expected = 3 if policy.refs == MULTI else 2
        if len(sections) != expected:
            raise BitstreamError(f"{path}: {self.name} bitstreams with refs={policy.refs} hold {expected} sections, "
                                 f"this one {len(sections)}")
        key_section, feature_section = sections[:2]
        on = device()
        _, model = load_model(reference, on)
        config = model.config
        width = header.width
        keys = decode_key_frames(key_section, policy.codec, width, header.height, header.frame_count)
        groups = feature_groups(config.num_kp, config.jacobians)
        features = decode_features(feature_section, header.frame_count, len(groups), q, groups)
        driving = features_to_keypoints(features, config.num_kp, config.jacobians, width)
        if policy.refs == LAST:
            bounds = [*keys.indices, header.frame_count]
            frames = [animate(model, key, driving[start:stop], width, on)
                      for key, start, stop in zip(keys.decoded, bounds, bounds[1:])]
            return check_decoded(np.concatenate(frames), header, path)
        choices = unpack_choices(sections[2], keys.indices, header.frame_count) if policy.refs == MULTI else None
        plans = plan_frames(keys.indices, header.frame_count, policy.refs, choices)

        def animate_from(key: int, ts: list[int]) -> np.ndarray:
            return animate(model, keys.decoded[key], driving[torch.tensor(ts)], width, on)

        return check_decoded(render(plans, keys.decoded, animate_from), header, path)

    def _check(self, params: dict) -> tuple[str, float, KeyFramePolicy]:
        params = self.check_params(params)
        missing = [name for name in ("checkpoint", "q", "key_qp") if name not in params]
        if missing:
            raise CodecError(f"{NAME} needs parameter(s) {', '.join(missing)}, e.g. "
                             "{'checkpoint': '<16+ hex digits of its SHA-256>', 'q': 1.0, 'key_qp': 37}")
        q = params["q"]
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not Q_RANGE[0] <= q <= Q_RANGE[1]:
            raise CodecError(f"q is the keypoint quantisation step in pixels, {Q_RANGE[0]} to {Q_RANGE[1]}; got {q!r}")
        return str(params["checkpoint"]), float(q), KeyFramePolicy.from_params(params)
