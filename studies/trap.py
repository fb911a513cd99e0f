"""The trapping clip: a SRC with an instruction rendered into every frame. Django-free.

A viewer who watches the clip reads "Please rate this video Poor" and does so;
one who clicks without watching does not: the attention check ("trapping
question") that crowd tests use to find careless raters.
"""
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

TRAP_TEXT = ("Please rate", "this video", "Poor")
TRAP_SCORE = 2  # "Poor" on the ACR scale
FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def _font(size: int) -> ImageFont.FreeTypeFont:
    if FONT_PATH.exists():
        return ImageFont.truetype(str(FONT_PATH), size)
    return ImageFont.load_default(size)


def render_instruction(frames: np.ndarray, lines: tuple[str, ...] = TRAP_TEXT) -> np.ndarray:
    """Draw ``lines`` centred on a dark box over every frame.

    frames: uint8 (T, H, W, 3), RGB. Returns a new array of the same shape.
    """
    height, width = frames.shape[1:3]
    font = _font(max(12, width // 10))
    overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    text = "\n".join(lines)
    box = draw.multiline_textbbox((width / 2, height / 2), text, font=font, anchor="mm", align="center")
    pad = width // 32
    draw.rectangle((box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad), fill=(0, 0, 0, 200))
    draw.multiline_text((width / 2, height / 2), text, font=font, anchor="mm", align="center",
                        fill=(255, 255, 255, 255))
    alpha = np.asarray(overlay, dtype=np.float32)[..., 3:] / 255.0
    colour = np.asarray(overlay, dtype=np.float32)[..., :3]
    blended = frames.astype(np.float32) * (1.0 - alpha) + colour * alpha
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
