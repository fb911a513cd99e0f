"""Registry entries of the face metrics (``metrics.kernels.face``). Django-free.

Listed in the order tables show them; ``metrics.registry`` registers them.
"""
from metrics.spec import AED_FRAME_STEP, FACE, MetricSpec, package_version

_DLIB = f"dlib-{package_version('dlib-bin')}"
_FACE = "metrics.kernels.face"

SPECS = (
    MetricSpec(
        name="aed", label="AED (identity distance)", unit="", value_range=(0.0, 1.0),
        higher_is_better=False, kind=FACE, device="cpu", version=f"1/{_DLIB}/step-{AED_FRAME_STEP}",
        source="Average Euclidean distance between identity embeddings of the reference and the "
               "distorted face (Siarohin et al., NeurIPS 2019, sec. 4, as used by GFVC evaluations), "
               "with dlib's 128-D ResNet descriptor (same person below 0.6); face box taken from "
               "the reference frame",
        kernel_path=f"{_FACE}:aed", frame_step=AED_FRAME_STEP,
    ),
    MetricSpec(
        name="akd", label="AKD (landmark distance / IOD)", unit="", value_range=(0.0, 0.5),
        higher_is_better=False, kind=FACE, device="cpu", version=f"1/{_DLIB}",
        source="Average keypoint distance (Siarohin et al., NeurIPS 2019, sec. 4): mean distance "
               "between the 68 iBUG landmarks (dlib) of the reference and the distorted face, "
               "divided by the reference's inter-ocular distance (300-W normalisation); face box "
               "taken from the reference frame. Practical range [0, 0.5]",
        kernel_path=f"{_FACE}:akd",
    ),
)
