"""Rows of the test database, backed by real lossless clips."""
from qa_platform.codec.video import write_lossless
from qa_platform.core.models import Hrc, JobStatus, Pvs, Source


def make_pvs(data_dir, reference, distorted, fps, name="talker") -> Pvs:
    """A SRC and a done PVS whose lossless clips are written under ``data_dir``."""
    write_lossless(data_dir / "sources" / f"{name}.mkv", reference, fps)
    write_lossless(data_dir / "pvs" / f"{name}-blur.mkv", distorted, fps)
    source = Source.objects.create(
        name=name, origin_path=f"/clips/{name}.mp4", origin_sha256=name.ljust(64, "0"),
        size=reference.shape[1], fps_num=fps.numerator, fps_den=fps.denominator,
        max_frames=len(reference), frame_count=len(reference), crop_x=0, crop_y=0,
        crop_size=reference.shape[1], lossless_path=f"sources/{name}.mkv", browser_path=f"sources/{name}.mp4",
    )
    hrc = Hrc.objects.get_or_create(codec="blur", params={"sigma": 2}, params_key='{"sigma": 2}', label="blur 2",
                                  curve="blur")[0]
    return Pvs.objects.create(source=source, hrc=hrc, status=JobStatus.DONE, decoded_path=f"pvs/{name}-blur.mkv")
