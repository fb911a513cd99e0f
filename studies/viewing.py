"""The viewing-condition check: can this browser show the videos at native size? Django-free.

ITU-T P.910 (10/2023) and P.913 ask for the viewing conditions to be
controlled or at least recorded. A browser can show a video pixel-for-pixel
only if its window holds the video at native size in device pixels (CSS
width = width / devicePixelRatio) and the page is not zoomed; the zoom is
estimated as outer / inner window width, which is 1 at 100 % zoom in
Chromium and Firefox when no side panel is open. A page in a frame (MTurk's
ExternalQuestion) cannot estimate it so: its inner width is the frame's, not
the window's; its zoom estimate is None and only the size is checked (the
device pixel ratio, which follows the zoom in Chromium and Firefox, still
sizes the video natively).

Display checks: a display that refreshes less often than the video's frame
rate cannot show every frame, so frames are dropped and motion judged on a
different video; the page measures the refresh rate as 1 / the median
requestAnimationFrame interval over about a second (the median ignores the
odd late frame; a browser throttling a hidden tab measures low, and the
participant is asked to keep the tab in front). Phones are refused unless the
study allows them: their screens are too small to hold the video and the
scale at native size with room to spare, and P.910's viewing conditions are
those of a monitor at a desk. The device class comes from the user agent
(Mozilla's advice: "Mobi" marks a phone; iPad, "Tablet" or Android without
"Mobile" a tablet), then from a coarse pointer (a touch screen) with the
screen's shorter side under ``PHONE_MAX_SHORT_SIDE`` CSS px.
"""

ZOOM_TOLERANCE = 0.1
# A 60 Hz display measures 58..62 Hz by requestAnimationFrame: 5 % is timer jitter, not a slow display.
REFRESH_TOLERANCE = 0.05
# Phones are at most about 480 CSS px on their shorter side; tablets start near 600 (Android's sw600dp).
PHONE_MAX_SHORT_SIDE = 600
DEVICE_CLASSES = ("phone", "tablet", "desktop")


def device_class(viewing: dict) -> str:
    """``phone``, ``tablet`` or ``desktop`` from the user agent, the pointer and the screen size (CSS px)."""
    agent = viewing.get("user_agent") or ""
    if "iPad" in agent or "Tablet" in agent or ("Android" in agent and "Mobile" not in agent):
        return "tablet"
    if "Mobi" in agent:
        return "phone"
    if viewing.get("pointer_coarse"):
        short = min(viewing["screen_width"], viewing["screen_height"])
        return "phone" if short < PHONE_MAX_SHORT_SIDE else "tablet"
    return "desktop"
# Room around the video for the page margins and the rating buttons, CSS px.
MARGIN_WIDTH = 40
# Between two videos shown side by side (participant.css .screens gap: 1.5rem at 16 px), CSS px.
SIDE_BY_SIDE_GAP = 24
MARGIN_HEIGHT = 220


def viewing_problems(viewing: dict, video_size: int, *, video_fps: float | None = None,
                     allow_phones: bool = True, across: int = 1) -> list[str]:
    """What keeps this browser from showing a ``video_size`` px square video natively, every frame
    of a ``video_fps`` video (frames per second; None: not checked), on a device the study allows.

    viewing: window_width, window_height (CSS px), device_pixel_ratio (> 0),
    zoom_estimate (1.0 at 100 %; None: not measured), optionally refresh_hz
    (None: not measured) and device_class (``device_class``). Returns sentences a participant can
    act on; empty when the conditions are fine. ``across``: videos shown next to each other (2 for a
    pair side by side), each at native size with ``SIDE_BY_SIDE_GAP`` between them.
    """
    problems = []
    css_size = video_size / viewing["device_pixel_ratio"]
    need_w = across * css_size + (across - 1) * SIDE_BY_SIDE_GAP + MARGIN_WIDTH
    need_h = css_size + MARGIN_HEIGHT
    if viewing["window_width"] < need_w or viewing["window_height"] < need_h:
        problems.append(
            f"Your browser window is {viewing['window_width']:.0f} x {viewing['window_height']:.0f}; "
            f"please make it at least {need_w:.0f} x {need_h:.0f} (maximise it)."
        )
    if viewing["zoom_estimate"] is not None and abs(viewing["zoom_estimate"] - 1.0) > ZOOM_TOLERANCE:
        problems.append(
            f"Your browser zoom looks like {viewing['zoom_estimate']:.0%}; please reset it to 100 % "
            "(Ctrl+0, or Cmd+0 on a Mac)."
        )
    refresh = viewing.get("refresh_hz")
    if video_fps and refresh is not None and refresh < video_fps * (1 - REFRESH_TOLERANCE):
        problems.append(
            f"Your screen refreshes about {refresh:.0f} times a second, fewer than the videos' {video_fps:g} "
            "frames a second, so it cannot show every frame. Please use another screen, or keep this tab "
            "in front, close other programs and check again."
        )
    if not allow_phones and viewing.get("device_class") == "phone":
        problems.append("This study cannot be done on a phone: please open the link on a computer.")
    return problems
