"""The dataset export: what another lab needs to reuse a study's ratings.

A folder (or a zip of it) holding the votes with one ``vote_<key>`` column per
rating dimension (ACR-HR, DCR: votes.csv in long format; CCR, PC: pair_votes.csv
in the canonical pair order, ``studies.selectors.pair_votes_frame``), pvs.csv
(the primary dimension's per-PVS scores of the method: MOS and DMOS, DCR's mean
impairment score, CCR's CMOS or PC's scale value, with CIs, votes, bitrate,
codec, curve, family, rate point, every metric), pvs_<key>.csv for each other
dimension, for CCR hrc_pairs.csv (CMOS per pair of HRCs), for PC pc_scale.csv
(every stimulus's scale value), src.csv and hrc.csv (descriptors),
participants.csv (anonymous ids and screening), a sureal JSON dataset (ACR-HR and
DCR: sureal_dataset.json; PC: sureal_pc_dataset.json, sureal's pair-comparison
format, ``studies.paired.sureal_pc_dataset``), README.md (the dataset card) and,
with media, the videos the viewers saw with their SHA-256. Simulated
participants are left out unless asked for. The folder is built under a
temporary name and renamed when complete.

On the pages the export is a job (Celery task ``studies.export``, queue
``cpu``, a step of the job lifecycle): ``export_request`` queues it, ``export_write`` writes one zip per
study under ``DATA_DIR/exports/<study>/`` and removes the previous one. A GET
never writes a file.
"""
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from qa_platform.codec.storage import atomic_path, sha256_file
from qa_platform.core import lifecycle
from qa_platform.core.models import Hrc, JobStatus, Source
from studies.analysis import REGISTRY, VotesError, to_sureal_dataset
from studies.jobs import send_on_commit
from studies.methods import get_method
from studies.models import DatasetExport, Stimulus, StimulusRole, Study
from studies.paired import sureal_pc_dataset
from studies.results import DEFAULT_MODEL, StudyAnalysis, study_analysis, target_label
from studies.screening import (
    CONSISTENCY_MAX_FRACTION,
    STRAIGHT_LINE_MIN,
    WATCH_LONG_EXTRA_SECONDS,
    WATCH_LONG_SHARE,
    WATCH_SHORT_FRACTION,
)
from studies.selectors import PAIR_SCALED_METHODS, dimension_keys, pair_votes_frame, study_questionnaire, votes_frame
from studies.versions import software_versions

EXPORT_TASK = "studies.export"
VOTE_EXPORT_COLUMNS = ["subject", "stimulus", "reference", "vote", "repetition", "is_reference", "hrc", "pvs_id",
                       "simulated", "watch_seconds", "stall_count", "replays", "voted_at"]


class ExportError(ValueError):
    """The export cannot be written as asked."""


@dataclass(frozen=True)
class ExportReport:
    folder: Path
    files: list[str]
    votes: int
    participants: int


def _descriptors(analysis: StudyAnalysis) -> tuple[pd.DataFrame, pd.DataFrame]:
    sources = Source.objects.filter(name__in=analysis.pvs["src"].unique())
    hrcs = Hrc.objects.filter(label__in=analysis.pvs["hrc"].unique())
    src = pd.DataFrame([{
        "src": s.name, "origin_file": Path(s.origin_path).name, "origin_sha256": s.origin_sha256, "size_px": s.size,
        "fps": float(s.fps), "frames": s.frame_count, "crop_x": s.crop_x, "crop_y": s.crop_y,
        "crop_size": s.crop_size,
    } for s in sources])
    hrc = pd.DataFrame([{"hrc": h.label, "codec": h.codec, "curve": h.curve, "family": h.family,
                         "codec_version": h.codec_version, "params": h.params_key} for h in hrcs])
    return src, hrc


def _viewing_summary(participants: pd.DataFrame) -> str:
    if participants.empty or participants["device_pixel_ratio"].isna().all():
        return "no viewing check recorded"
    ratios = participants["device_pixel_ratio"].dropna().value_counts().to_dict()
    return "device pixel ratio " + ", ".join(f"{r:g}: {n} participant(s)" for r, n in sorted(ratios.items()))


def _media_rows(study: Study, folder: Path) -> pd.DataFrame:
    """Copy every video the study shows (a pair's two) into ``folder/media``; one row per video and stimulus."""
    rows = []
    for stimulus in Stimulus.objects.filter(study=study).select_related("source", "pvs__hrc", "companion_pvs__hrc"):
        videos = [(stimulus.label, stimulus.media_path)]
        if stimulus.is_pair and stimulus.companion_media_path:
            videos.append((stimulus.companion_label, stimulus.companion_media_path))
        for label, media_path in videos:
            source = Path(settings.DATA_DIR) / media_path
            target = folder / "media" / media_path
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                shutil.copy2(source, target)
            rows.append({"stimulus": label, "role": stimulus.role, "path": f"media/{media_path}",
                         "sha256": sha256_file(target)})
    return pd.DataFrame(rows)


def _write_votes(analysis: StudyAnalysis, folder: Path) -> None:
    """The votes of every dimension (``vote_<key>``, canonical orientation): ``votes.csv``, or for CCR and
    PC ``pair_votes.csv``, whose ``swapped`` says which video was shown first (for order effects)."""
    study = analysis.study
    keys = [f"vote_{key}" for key in dimension_keys(study)]
    if study.method in PAIR_SCALED_METHODS:
        votes = pair_votes_frame(study, include_simulated=analysis.include_simulated, all_dimensions=True)
        columns = [c for c in votes.columns if c not in ("pvs_id_a", "pvs_id_b")]
        votes[columns].to_csv(folder / "pair_votes.csv", index=False)
        return
    votes = votes_frame(study, include_simulated=analysis.include_simulated, all_dimensions=True)
    votes[VOTE_EXPORT_COLUMNS + keys].to_csv(folder / "votes.csv", index=False)


def _write_tables(analysis: StudyAnalysis, folder: Path, *, model: str) -> list[str]:
    """Write the tables; return the dimensions whose analysis gave no table, with why."""
    study = analysis.study
    _write_votes(analysis, folder)
    analysis.pvs.to_csv(folder / "pvs.csv", index=False)
    skipped = []
    for key in dimension_keys(study)[1:]:
        try:
            other = study_analysis(study, model=model, include_simulated=analysis.include_simulated, dimension=key)
        except VotesError as error:
            skipped.append(f"{key}: {error}")
            continue
        other.pvs.to_csv(folder / f"pvs_{key}.csv", index=False)
    if study.method == "ccr":
        analysis.pairs.to_csv(folder / "hrc_pairs.csv", index=False)
    elif study.method == "pc":
        analysis.pairs.to_csv(folder / "pc_scale.csv", index=False)
    src, hrc = _descriptors(analysis)
    src.to_csv(folder / "src.csv", index=False)
    hrc.to_csv(folder / "hrc.csv", index=False)
    analysis.participants.to_csv(folder / "participants.csv", index=False)
    if study.method == "pc":
        dataset = sureal_pc_dataset(analysis.votes[["subject", "stimulus_a", "stimulus_b", "preferred"]],
                                           dataset_name=study.name)
        (folder / "sureal_pc_dataset.json").write_text(json.dumps(dataset, indent=1))
    elif study.method not in PAIR_SCALED_METHODS:
        sizes = analysis.pvs["src"].map(dict(Source.objects.values_list("name", "size")))
        size = int(sizes.max()) if len(sizes) else None
        dataset = to_sureal_dataset(analysis.votes, dataset_name=study.name, width=size, height=size)
        (folder / "sureal_dataset.json").write_text(json.dumps(dataset, indent=1))
    return skipped


def _dataset_card(analysis: StudyAnalysis, media: bool, skipped: list[str]) -> str:
    study, participants = analysis.study, analysis.participants
    method = get_method(study.method)
    return render_to_string("studies/dataset_card.md", {
        "study": study, "analysis": analysis, "model": REGISTRY[analysis.result.model],
        "method": method, "scale": list(method.scale), "dimensions": study.dimensions, "skipped": skipped,
        "targets": [(t, target_label(study.method, t)) for t in analysis.targets],
        "paired_scaling": study.method in PAIR_SCALED_METHODS,
        "n_participants": len(participants), "n_rejected": int(participants["rejected"].sum()),
        "rejected": participants[participants["rejected"]].to_dict("records"),
        "n_votes": len(analysis.votes), "n_pvs": len(analysis.pvs),
        "n_sources": analysis.pvs["src"].nunique(), "n_hrcs": analysis.pvs["hrc"].nunique(),
        "training": study.stimuli.filter(role=StimulusRole.TRAINING).count(),
        "viewing": _viewing_summary(participants), "versions": software_versions(),
        "media": media, "exported_at": timezone.now().isoformat(timespec="seconds"),
        "questionnaire": study_questionnaire(study),
        "flagged": int((participants["flags"].fillna("") != "").sum()) if "flags" in participants else 0,
        "screening": {"straight_line_min": STRAIGHT_LINE_MIN, "watch_short": f"{WATCH_SHORT_FRACTION:.0%}",
                      "watch_long_extra": f"{WATCH_LONG_EXTRA_SECONDS:g}",
                      "watch_long_share": f"{WATCH_LONG_SHARE:.0%}", "consistency": f"{CONSISTENCY_MAX_FRACTION:.1%}"},
    })


def dataset_export(*, study: Study, out_dir: Path, include_simulated: bool = False, media: bool = False,
                   model: str = DEFAULT_MODEL) -> ExportReport:
    """Write the dataset of ``study`` to ``out_dir`` (which must not exist or be empty).

    Raises ``ExportError`` when ``out_dir`` holds files, and the errors of
    ``study_analysis`` (``NoVotesError``) when there is nothing to export.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ExportError(f"{out_dir} is not empty: choose a new folder")
    analysis = study_analysis(study, model=model, include_simulated=include_simulated)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Renamed away when complete, so the context has nothing left to clean up then.
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.",
                                     ignore_cleanup_errors=True) as tmp:
        folder = Path(tmp)
        skipped = _write_tables(analysis, folder, model=model)
        if media:
            _media_rows(study, folder).to_csv(folder / "media.csv", index=False)
        (folder / "README.md").write_text(_dataset_card(analysis, media, skipped))
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        if out_dir.exists():
            out_dir.rmdir()
        folder.rename(out_dir)
    return ExportReport(folder=out_dir, files=files, votes=len(analysis.votes),
                        participants=len(analysis.participants))


def dataset_zip(*, study: Study, include_simulated: bool = False) -> tuple[Path, ExportReport]:
    """Export ``study`` (no media) as a zip in ``DATA_DIR/exports/<study>/``; return (its path, the export's report).

    Errors as :func:`dataset_export`.
    """
    exports = Path(settings.DATA_DIR) / "exports" / study.name
    exports.mkdir(parents=True, exist_ok=True)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    name = f"{study.name}-{stamp}{'-with-simulated' if include_simulated else ''}"
    with tempfile.TemporaryDirectory(dir=exports, prefix=".") as tmp:
        report = dataset_export(study=study, out_dir=Path(tmp) / name, include_simulated=include_simulated)
        with atomic_path(exports / f"{name}.zip") as zipped:
            shutil.make_archive(str(zipped.with_suffix("")), "zip", root_dir=tmp, base_dir=name)
    return exports / f"{name}.zip", report


def export_request(*, study: Study, include_simulated: bool = False) -> DatasetExport:
    """Queue the study's export job (task ``studies.export``, one step of the job lifecycle,
    ``qa_platform.core.lifecycle``), unless one is queued or running already and not lost
    (then return that one)."""
    with transaction.atomic():
        DatasetExport.objects.get_or_create(study=study)
        export = DatasetExport.objects.select_for_update().get(study=study)
        if export.status in (JobStatus.QUEUED, JobStatus.RUNNING) and not lifecycle.needs_run(export):
            return export
        DatasetExport.objects.filter(pk=export.pk).update(include_simulated=include_simulated)
        export.include_simulated = include_simulated
        (task_id,) = lifecycle.job_queue(export)
        send_on_commit(export, EXPORT_TASK, args=[export.pk], task_id=task_id)
    return export


def export_write(export: DatasetExport) -> DatasetExport:
    """The export job's work: write a new zip of the study (``dataset_zip``, the participants the
    request chose), record it on ``export`` and remove every other file of the study's export folder.

    Raises ``VotesError`` when the votes cannot be exported (none from people); run as a job step,
    that ends the job failed with the reason and keeps the previous zip.
    """
    path, report = dataset_zip(study=export.study, include_simulated=export.include_simulated)
    for old in path.parent.iterdir():
        if old != path and old.is_file():
            old.unlink()
    DatasetExport.objects.filter(pk=export.pk).update(
        votes=report.votes, participants=report.participants, path=str(path.relative_to(settings.DATA_DIR)))
    export.refresh_from_db()
    return export
