"""Registry entries of the face metrics. Django-free.

Face-region metrics (``metrics.kernels.face_region``: full-reference metrics
inside the reference's face) and landmark and identity metrics
(``metrics.kernels.face``), listed in the order tables show them;
``metrics.registry`` registers them.
"""
from metrics.spec import AED_FRAME_STEP, FACE, FACE_REGION, MetricSpec, package_version

_DLIB = f"dlib-{package_version('dlib-bin')}"
_FACE = "metrics.kernels.face"
_REGION = "metrics.kernels.face_region"
# metrics.kernels.face.FACE_MASK_DILATION (not imported: reading the registry imports no dlib or torch).
FACE_REGION_SOURCE = ("inside the face region: the convex hull of the reference frame's 68 dlib landmarks, "
                      "dilated by 0.15 x the inter-ocular distance")
_IN_BOX = "the distorted face is measured in the reference frame's face box, not detected again"
_AKD = ("mean distance between the distorted and reference dlib 68-point (iBUG 300-W) landmarks "
        "{which}, divided by the reference's inter-ocular distance (eye centres, 300-W "
        "normalisation); AKD as in Siarohin et al., NeurIPS 2019, sec. 4; " + _IN_BOX)
_POSE = ("|{axis}(distorted) - {axis}(reference)| per frame, degrees: head rotation from six "
         "dlib landmarks by OpenCV solvePnP (SQPnP) on a generic 3-D face (Mallick, LearnOpenCV 2016), "
         "focal length = frame width, Euler angles by RQ decomposition. Practical range [0, 30]")
_AGREEMENT = ("Pearson r over the frames between the {what} series of the distorted and the "
              "reference face (dlib landmarks; " + _IN_BOX + "); 1 when the PVS {does} exactly "
              "when the SRC does. Undefined (failed) when a series is constant")

SPECS = (
    MetricSpec(
        name="face_psnr", label="Face PSNR", unit="dB", value_range=(0.0, 80.0),
        higher_is_better=True, kind=FACE_REGION, device="cpu", version=f"1/{_DLIB}",
        source="PSNR over the R, G, B samples " + FACE_REGION_SOURCE + "; capped at 80 dB",
        kernel_path=f"{_REGION}:face_psnr",
    ),
    MetricSpec(
        name="face_ssim", label="Face SSIM", unit="", value_range=(0.0, 1.0),
        higher_is_better=True, kind=FACE_REGION, device="cpu",
        version=f"2/{_DLIB}/skimage-{package_version('scikit-image')}/float32-face-box",
        source="SSIM map (Wang et al. 2004, Gaussian window sigma 1.5, K1 0.01, K2 0.03; "
               "scikit-image), mean of R, G, B, averaged " + FACE_REGION_SOURCE,
        kernel_path=f"{_REGION}:face_ssim",
    ),
    MetricSpec(
        name="face_lpips", label="Face LPIPS (AlexNet)", unit="", value_range=(0.0, 1.0),
        higher_is_better=False, kind=FACE_REGION, device="gpu",
        version=f"1/{_DLIB}/lpips-{package_version('lpips')}/alex-v0.1",
        source="LPIPS v0.1 AlexNet spatial map (Zhang et al. 2018, spatial=True, each layer upsampled "
               "to the frame) averaged " + FACE_REGION_SOURCE + ". Practical range [0, 1]",
        kernel_path=f"{_REGION}:face_lpips", weights=("alexnet",),
    ),
    MetricSpec(
        name="aed", label="AED (identity distance)", unit="", value_range=(0.0, 1.0),
        higher_is_better=False, kind=FACE, device="cpu", version=f"1/{_DLIB}/step-{AED_FRAME_STEP}",
        source="Average Euclidean distance between identity embeddings of the reference and the "
               "distorted face (Siarohin et al., NeurIPS 2019, sec. 4, as used by GFVC evaluations), "
               "with dlib's 128-D ResNet descriptor (same person below 0.6); " + _IN_BOX,
        kernel_path=f"{_FACE}:aed", frame_step=AED_FRAME_STEP,
    ),
    MetricSpec(
        name="id_sim", label="Identity cosine similarity", unit="", value_range=(-1.0, 1.0),
        higher_is_better=True, kind=FACE, device="cpu", version=f"1/{_DLIB}/step-{AED_FRAME_STEP}",
        source="Cosine similarity of dlib's 128-D ResNet identity embeddings of the reference and the "
               "distorted face (the CSIM of face reenactment papers, with dlib's network instead of "
               "ArcFace); " + _IN_BOX,
        kernel_path=f"{_FACE}:identity_similarity", frame_step=AED_FRAME_STEP,
    ),
    MetricSpec(
        name="akd", label="AKD (landmark distance / IOD)", unit="", value_range=(0.0, 0.5),
        higher_is_better=False, kind=FACE, device="cpu", version=f"1/{_DLIB}",
        source=_AKD.format(which="(all 68)") + ". Practical range [0, 0.5]",
        kernel_path=f"{_FACE}:akd",
    ),
    MetricSpec(
        name="akd_mouth", label="AKD mouth", unit="", value_range=(0.0, 0.5),
        higher_is_better=False, kind=FACE, device="cpu", version=f"1/{_DLIB}",
        source=_AKD.format(which="of the mouth (20 points, 49-68)") + ". Practical range [0, 0.5]",
        kernel_path=f"{_FACE}:akd_mouth",
    ),
    MetricSpec(
        name="akd_eyes", label="AKD eyes", unit="", value_range=(0.0, 0.5),
        higher_is_better=False, kind=FACE, device="cpu", version=f"1/{_DLIB}",
        source=_AKD.format(which="of the eyes (12 points, 37-48)") + ". Practical range [0, 0.5]",
        kernel_path=f"{_FACE}:akd_eyes",
    ),
    MetricSpec(
        name="pose_yaw", label="Head yaw error", unit="°", value_range=(0.0, 30.0),
        higher_is_better=False, kind=FACE, device="cpu", version=f"2/{_DLIB}",
        source=_POSE.format(axis="yaw"), kernel_path=f"{_FACE}:pose_yaw_error",
    ),
    MetricSpec(
        name="pose_pitch", label="Head pitch error", unit="°", value_range=(0.0, 30.0),
        higher_is_better=False, kind=FACE, device="cpu", version=f"2/{_DLIB}",
        source=_POSE.format(axis="pitch"), kernel_path=f"{_FACE}:pose_pitch_error",
    ),
    MetricSpec(
        name="pose_roll", label="Head roll error", unit="°", value_range=(0.0, 30.0),
        higher_is_better=False, kind=FACE, device="cpu", version=f"2/{_DLIB}",
        source=_POSE.format(axis="roll"), kernel_path=f"{_FACE}:pose_roll_error",
    ),
    MetricSpec(
        name="ear_r", label="Blink agreement (EAR r)", unit="", value_range=(-1.0, 1.0),
        higher_is_better=True, kind=FACE, device="cpu", version=f"1/{_DLIB}",
        source=_AGREEMENT.format(what="eye-aspect-ratio (Soukupová & Čech, CVWW 2016, eq. 1)", does="blinks"),
        kernel_path=f"{_FACE}:eye_agreement",
        fixed_pooling="Pearson r over frames", frame_values="EAR(PVS) - EAR(SRC)",
    ),
    MetricSpec(
        name="mouth_r", label="Mouth agreement (opening r)", unit="", value_range=(-1.0, 1.0),
        higher_is_better=True, kind=FACE, device="cpu", version=f"1/{_DLIB}",
        source=_AGREEMENT.format(what="mouth-opening (inner-lip aspect ratio)", does="opens its mouth"),
        kernel_path=f"{_FACE}:mouth_agreement",
        fixed_pooling="Pearson r over frames", frame_values="opening(PVS) - opening(SRC)",
    ),
)
