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
"""

ZOOM_TOLERANCE = 0.1
# Room around the video for the page margins and the rating buttons, CSS px.
MARGIN_WIDTH = 40
MARGIN_HEIGHT = 220


def viewing_problems(viewing: dict, video_size: int) -> list[str]:
    """What keeps this browser from showing a ``video_size`` px square video natively.

    viewing: window_width, window_height (CSS px), device_pixel_ratio (> 0),
    zoom_estimate (1.0 at 100 %; None: not measured). Returns sentences a participant can act on;
    empty when the conditions are fine.
    """
    problems = []
    css_size = video_size / viewing["device_pixel_ratio"]
    need_w, need_h = css_size + MARGIN_WIDTH, css_size + MARGIN_HEIGHT
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
    return problems
