"""How fast the researcher pages are on a large synthetic study (``manage.py benchmark_pages``).

Everything happens in a scratch SQLite database and a scratch data directory,
both in a temporary folder that is deleted at the end: the user's database and
data directory are never opened. The synthetic database has ``sources`` SRCs,
HRCs of three codecs (two conventional, one generative) until there are
``pvs`` PVSs, the first ``metrics`` registered metrics on every PVS (values
correlated with a latent quality, per-frame values included) and one study
rated by ``participants`` simulated observers (``studies.simulation``) who
each rate every PVS and every hidden reference. Every SRC and PVS points at
one tiny synthetic clip, which is all the frame pictures of the PVS page read.
The study's analyses and its export are then made through the services the
jobs run (``analyses_compute``, ``export_write`` as a job step), timed, before the pages
are requested: the pages only read what those stored.
"""
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from metrics.models import MetricResult, MetricStatus
from metrics.registry import all_metrics
from qa_platform.codec.video import write_browser_copy, write_lossless
from qa_platform.core import lifecycle
from qa_platform.core.models import Hrc, JobStatus, Pvs, Source
from studies import services
from studies.analysis_store import analyses_compute
from studies.export import export_write
from studies.models import DatasetExport, Platform, StimulusRole, Study, Trial, Vote
from studies.scratch import scratch_database, sqlite_database
from studies.simulation import ObserverModel, draw_observer, simulate_vote

STUDY_NAME = "benchmark"
# (codec, family offset of the latent quality): codecs the registry knows, so families resolve.
CODECS = (("x264", -0.4), ("x265", 0.0), ("landmark-warp", 0.3))
CLIP_FRAMES, CLIP_SIZE, CLIP_FPS = 8, 64, Fraction(25)


class BenchmarkError(ValueError):
    """The synthetic study cannot be built as asked."""


@dataclass(frozen=True)
class Size:
    """The synthetic study: PVSs, metrics per PVS, simulated participants, SRCs."""

    pvs: int = 1000
    metrics: int = len(all_metrics())
    participants: int = 30
    sources: int = 10


@dataclass(frozen=True)
class PageTiming:
    """One page requested ``repeats`` times: its HTTP status and wall-clock percentiles (ms)."""

    name: str
    url: str
    status: int
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class BenchmarkReport:
    """What ``run_benchmark`` measured; durations in seconds."""

    size: Size
    votes: int
    build_seconds: float
    analyses_seconds: float
    export_seconds: float
    pages: list[PageTiming]

    @property
    def slowest_p95_ms(self) -> float:
        return max(page.p95_ms for page in self.pages)


def _clip(data_dir: Path) -> tuple[str, str]:
    """Write the one synthetic clip (lossless and browser copy); return both paths relative to ``data_dir``."""
    y, x = np.mgrid[0:CLIP_SIZE, 0:CLIP_SIZE]
    frames = np.stack([np.stack([(x * 4 + 9 * t) % 256, (y * 4) % 256, ((x + y) * 2) % 256], axis=-1)
                       for t in range(CLIP_FRAMES)]).astype(np.uint8)
    write_lossless(data_dir / "sources" / "clip.mkv", frames, CLIP_FPS)
    write_browser_copy(data_dir / "sources" / "clip.mp4", frames, CLIP_FPS)
    return "sources/clip.mkv", "sources/clip.mp4"


def _database(size: Size, data_dir: Path, rng: np.random.Generator) -> dict[int, float]:
    """SRCs, HRCs and done PVSs; return each PVS's latent quality in [0, 1] by id."""
    lossless, browser = _clip(data_dir)
    n_sources = min(size.sources, size.pvs)
    per_source = math.ceil(size.pvs / n_sources)
    sources = [Source.objects.create(
        name=f"bench{i:03d}", origin_path=f"/synthetic/bench{i:03d}.mp4", origin_sha256=f"{i:064x}",
        size=CLIP_SIZE, fps_num=25, fps_den=1, max_frames=CLIP_FRAMES, frame_count=CLIP_FRAMES,
        crop_x=0, crop_y=0, crop_size=CLIP_SIZE, lossless_path=lossless, browser_path=browser,
    ) for i in range(n_sources)]
    hrcs = []
    for j in range(per_source):
        codec, _ = CODECS[j % len(CODECS)]
        hrcs.append(Hrc.objects.create(codec=codec, params={"qp": j}, params_key=f'{{"qp": {j}}}',
                                       label=f"{codec} qp={j}"))
    difficulty = rng.normal(0.0, 0.5, n_sources)
    latent, rows = [], []
    for index in range(size.pvs):
        s, j = index % n_sources, index // n_sources
        offset = dict(CODECS)[hrcs[j].codec]
        kbps = float(2.0 ** rng.uniform(1.0, 7.0))
        latent.append(1.0 / (1.0 + math.exp(-(math.log2(kbps) - 4.0 + offset - difficulty[s]))))
        rows.append(Pvs(source=sources[s], hrc=hrcs[j], status=JobStatus.DONE, kbps=kbps,
                        bitstream_bytes=int(kbps * 1000 / 8 * CLIP_FRAMES / 25), decoded_path=lossless,
                        browser_path=browser, codec_version="synthetic"))
    created = Pvs.objects.bulk_create(rows)
    return {pvs.pk: quality for pvs, quality in zip(created, latent)}


def _metrics(size: Size, latent: dict[int, float], rng: np.random.Generator) -> None:
    """One OK result per PVS and metric: the latent quality plus noise (sd 0.05 to 0.3), oriented as the metric."""
    specs = list(all_metrics().values())
    if not 1 <= size.metrics <= len(specs):
        raise BenchmarkError(f"--metrics must be 1..{len(specs)} (the registered metrics), not {size.metrics}")
    rows = []
    for spec in specs[:size.metrics]:
        noise = rng.uniform(0.05, 0.3)
        for pvs_id, quality in latent.items():
            value = quality + noise * rng.standard_normal()
            value = value if spec.higher_is_better else 1.0 - value
            result = MetricResult(pvs_id=pvs_id, metric=spec.name, status=MetricStatus.OK, value=value,
                                  version="synthetic", device="cpu")
            result.per_frame = value + 0.01 * rng.standard_normal(CLIP_FRAMES)
            rows.append(result)
    MetricResult.objects.bulk_create(rows, batch_size=5000)


def _study(size: Size, latent: dict[int, float], rng: np.random.Generator) -> tuple[Study, int]:
    """The study, its simulated participants (each rates every test stimulus)
    and their votes; return (study, test votes)."""
    study = services.study_create(name=STUDY_NAME, pvs=Pvs.objects.select_related("source"),
                                  votes_per_pvs=size.participants, trap=False, seed=int(rng.integers(2**32)))
    model = ObserverModel()
    low, high = model.quality_range
    votes = []
    for _ in range(size.participants):
        participant, _ = services.participant_join(study=study, platform=Platform.SIMULATED,
                                                   assignment_seed=int(rng.integers(2**63)))
        observer = draw_observer(model, rng)
        for trial in Trial.objects.filter(participant=participant).select_related("stimulus"):
            pvs_id = trial.stimulus.pvs_id
            quality = low + (high - low) * latent[pvs_id] if pvs_id else model.reference_quality
            score = simulate_vote(observer, quality, rng)
            votes.append(Vote(trial=trial, score=score, scores={"overall": score},
                              watch_seconds=CLIP_FRAMES / 25 + 0.1))
        participant.completed_at = timezone.now()
        participant.save(update_fields=["completed_at"])
    Vote.objects.bulk_create(votes, batch_size=5000)
    return study, Vote.objects.filter(trial__stimulus__role=StimulusRole.TEST).count()


def build_synthetic_study(size: Size, data_dir: Path, *, seed: int = 0) -> tuple[Study, int]:
    """Fill the (scratch) database with the synthetic SRCs, PVSs, metrics and
    rated study; return (study, test votes). Raises ``BenchmarkError`` for a
    size that cannot be built."""
    if size.pvs < 1 or size.participants < 1 or size.sources < 1:
        raise BenchmarkError("--pvs, --participants and --sources must be at least 1")
    rng = np.random.default_rng(seed)
    latent = _database(size, data_dir, rng)
    _metrics(size, latent, rng)
    return _study(size, latent, rng)


def researcher_pages(study: Study) -> list[tuple[str, str]]:
    """(name, URL) of every researcher page, on the study and on its first PVS."""
    pvs_id = Pvs.objects.order_by("pk").values_list("pk", flat=True).first()
    return [
        ("database", reverse("metrics:database")),
        ("pvs", reverse("metrics:pvs", args=[pvs_id])),
        ("pvs frame (reference)", reverse("metrics:pvs_picture", args=[pvs_id, 0, "reference"])),
        ("pvs frame (distorted)", reverse("metrics:pvs_picture", args=[pvs_id, 0, "distorted"])),
        ("rate-distortion", reverse("metrics:rd")),
        ("study list", reverse("studies:list")),
        ("dashboard", reverse("studies:dashboard", args=[study.name])),
        ("analysis", reverse("studies:analysis", args=[study.name])),
        ("export", reverse("studies:export", args=[study.name])),
        ("export download", reverse("studies:export_download", args=[study.name])),
    ]


def time_page(client: Client, url: str, repeats: int) -> tuple[int, list[float]]:
    """GET ``url`` once untimed (the process's first request pays its imports), then ``repeats`` times
    (reading streamed bodies to the end); return (last status, times in ms)."""
    client.get(url).close()
    times, status = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(url)
        if response.streaming:
            b"".join(response.streaming_content)
        response.close()
        times.append((time.perf_counter() - start) * 1000)
        status = response.status_code
    return status, times


def _export(study) -> None:
    """Run the export job's step as a worker would (claim, write, release), without a broker."""
    export = DatasetExport.objects.create(study=study, include_simulated=True)
    (task_id,) = lifecycle.job_queue(export)
    lifecycle.run_step(DatasetExport, export.pk, task_id=task_id, work=lambda: export_write(export))


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def run_benchmark(size: Size = Size(), *, repeats: int = 20, seed: int = 0,
                  progress: Callable[[str], None] = lambda line: None) -> BenchmarkReport:
    """Build the synthetic study in a scratch database and data directory,
    store its analyses and export through the jobs' services (timed), then
    request every researcher page ``repeats`` times as a logged-in staff user.

    ``progress`` receives a line per step. Raises ``BenchmarkError`` for an
    impossible size. Nothing outside a temporary folder is written.
    """
    if repeats < 1:
        raise BenchmarkError("--repeats must be at least 1")
    with tempfile.TemporaryDirectory(prefix="faceqa-benchmark-") as tmp:
        folder = Path(tmp)
        data_dir = folder / "data"
        data_dir.mkdir()
        with scratch_database(sqlite_database(folder)), override_settings(DATA_DIR=data_dir, ALLOWED_HOSTS=["testserver"]):
            start = time.perf_counter()
            study, votes = build_synthetic_study(size, data_dir, seed=seed)
            build_seconds = time.perf_counter() - start
            progress(f"built {size.pvs} PVSs x {size.metrics} metrics, {size.participants} simulated "
                     f"participants, {votes} test votes in {build_seconds:.1f} s")
            analyses_seconds = _timed(lambda: analyses_compute(study=study))
            progress(f"stored analyses (the analysis job's service) in {analyses_seconds:.1f} s")
            export_seconds = _timed(lambda: _export(study))
            progress(f"exported (the export job's service) in {export_seconds:.1f} s")
            client = Client()
            client.force_login(get_user_model().objects.create_user("benchmark", is_staff=True))
            pages = []
            for name, url in researcher_pages(study):
                status, times = time_page(client, url, repeats)
                pages.append(PageTiming(name=name, url=url, status=status, p50_ms=float(np.percentile(times, 50)),
                                        p95_ms=float(np.percentile(times, 95))))
                progress(f"{name}: {pages[-1].p95_ms:.0f} ms p95")
    return BenchmarkReport(size=size, votes=votes, build_seconds=build_seconds, analyses_seconds=analyses_seconds,
                           export_seconds=export_seconds, pages=pages)


def report_table(report: BenchmarkReport) -> str:
    """The report as a plain-text table, one page a line, ending with ``slowest page p95: N ms``."""
    width = max(len(page.url) for page in report.pages)
    lines = [f"analysis job service: {report.analyses_seconds:.1f} s; export job service: "
             f"{report.export_seconds:.1f} s ({report.size.pvs} PVSs, {report.size.metrics} metrics, "
             f"{report.size.participants} participants, {report.votes} test votes)",
             f"{'page':<22} {'url':<{width}} {'status':>6} {'p50 ms':>9} {'p95 ms':>9}"]
    lines += [f"{page.name:<22} {page.url:<{width}} {page.status:>6} {page.p50_ms:>9.1f} {page.p95_ms:>9.1f}"
              for page in report.pages]
    lines.append(f"slowest page p95: {report.slowest_p95_ms:.0f} ms")
    return "\n".join(lines)
