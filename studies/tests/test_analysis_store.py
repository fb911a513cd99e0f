"""Stored analyses and exports: the jobs' services compute and store, the pages only read."""
import re
import zipfile

import pytest
from celery.canvas import Signature
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from kombu.exceptions import OperationalError

from qa_platform.core import lifecycle
from qa_platform.core.models import JobStatus, Pvs
from studies import analysis_store, jobs, services
from studies.analysis import VotesError
from studies.analysis_store import (
    RECOMPUTE_DELAY_SECONDS,
    AnalysisOptions,
    analyses_compute,
    analysis_request,
    stored_view,
)
from studies.export import export_request, export_write
from studies.models import (
    AnalysisJob,
    DatasetExport,
    StoredAnalysis,
    StoredCorrelation,
    Study,
    Vote,
)
from studies.results import study_analysis

REAL_SEND = jobs._send


@pytest.fixture
def rated(study, settings):
    """The pilot study rated by 12 simulated observers (5 PVSs and 3 references each), the last 2 careless."""
    settings.FACEQA_BOOTSTRAP_RESAMPLES = 50
    services.study_simulate_ratings(study=study, participants=12, seed=1, careless=2)
    return study


@pytest.fixture
def stored(rated):
    analyses_compute(study=rated)
    return rated


def _one_vote(study: Study) -> None:
    participant, _ = services.participant_join(study=study)
    services.vote_submit(participant=participant, position=0, score=4)


def _files(folder) -> set:
    return {path for path in folder.rglob("*") if path.is_file()}


class TestCompute:
    def test_stores_scores_screening_correlations_and_versions(self, stored):
        row = StoredAnalysis.objects.get(study=stored, model="bt500", ci="t", include_simulated=True)
        assert row.computed_at is not None and row.message == ""
        assert row.n_votes == 12 * 8 and row.study_votes == Vote.objects.count() and row.simulated == 12
        assert row.model_version.startswith("sureal-0.9.0/BT500") and row.versions["sureal"] == "0.9.0"
        assert row.versions["faceqa"]
        assert len(row.pvs) == 6 and len(row.participants) == 12 and set(row.breakdown) == {"mos", "dmos"}
        correlations = {c.target: c for c in row.correlations.all()}
        assert set(correlations) == {"mos", "dmos"} and correlations["mos"].n_bootstrap == 50
        ranking = correlations["mos"].ranking
        assert {r["metric"] for r in ranking if r["plcc"] is not None} == {"ms_ssim", "psnr_y"}
        assert len(ranking[0]["fit"]) == 4 and ranking[0]["plcc_low"] <= ranking[0]["plcc"]

    def test_stored_scores_are_the_analysis_scores(self, stored):
        row = StoredAnalysis.objects.get(study=stored, model="bt500")
        expected = study_analysis(stored).pvs.set_index("stimulus")["mos"]
        assert {r["stimulus"]: r["mos"] for r in row.pvs} == pytest.approx(expected.to_dict())

    def test_votes_a_model_cannot_use_are_stored_as_the_reason(self, rated):
        analysis_request(study=rated, options=AnalysisOptions(include_simulated=False))
        analyses_compute(study=rated)
        row = StoredAnalysis.objects.get(study=rated, include_simulated=False)
        assert row.computed_at is not None and "simulated ones left out" in row.message and row.pvs == []

    def test_unknown_options_are_refused(self, rated):
        with pytest.raises(ValueError, match="unknown model"):
            AnalysisOptions(model="bogus")
        with pytest.raises(ValueError, match="unknown target"):
            analysis_request(study=rated, options=AnalysisOptions(), target="vmaf")


class TestPagesReadTheStore:
    def test_pages_do_not_compute(self, client, stored, monkeypatch, django_assert_max_num_queries):
        def forbidden(*args, **kwargs):
            raise AssertionError("a page computed")
        for name in ("study_analysis", "correlation_results", "metric_comparisons", "correlation_breakdown"):
            monkeypatch.setattr(analysis_store, name, forbidden)
        monkeypatch.setattr("studies.results.analyse", forbidden)
        monkeypatch.setattr("studies.correlation.correlate", forbidden)
        monkeypatch.setattr("studies.correlation.fit_logistic", forbidden)
        with django_assert_max_num_queries(12):
            dashboard = client.get(reverse("studies:dashboard", args=["pilot"]) + "?metric=psnr_y")
        analysis = client.get(reverse("studies:analysis", args=["pilot"]))
        assert dashboard.status_code == analysis.status_code == 200
        page = dashboard.content.decode()
        assert 'id="ranking"' in page and "scatter-figure" in page and "50 bootstrap resamples" in page
        assert "from 96 test votes" in analysis.content.decode()

    def test_nothing_stored_says_so_and_offers_the_compute_button(self, client, rated, sent_jobs):
        sent_jobs.clear()
        for name in ("studies:dashboard", "studies:analysis"):
            response = client.get(reverse(name, args=["pilot"]))
            page = response.content.decode()
            assert response.status_code == 200
            assert "Not computed yet" in page and 'id="recompute"' in page and ">Compute</button>" in page
        assert not StoredAnalysis.objects.exists() and sent_jobs == []

    def test_a_subset_not_stored_offers_its_computation(self, client, stored):
        page = client.get(reverse("studies:dashboard", args=["pilot"]) + "?codec=x264").content.decode()
        assert "MOS correlations on these PVSs are not computed yet" in page and 'id="recompute"' in page

    def test_compute_button_stores_the_options_and_queues_the_job_now(self, client, rated, sent_jobs,
                                                                      django_capture_on_commit_callbacks):
        sent_jobs.clear()
        query = "?model=p910&target=dmos&codec=x264"
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("studies:recompute", args=["pilot"]), {
                "model": "p910", "ci": "t", "simulated": "1", "target": "dmos", "codec": "x264",
                "next": reverse("studies:dashboard", args=["pilot"]) + query})
        assert response.status_code == 302 and response.url.endswith(query)
        job = AnalysisJob.objects.get(study=rated)
        assert sent_jobs == [("studies.analyse", job.pk, 0)]
        assert StoredCorrelation.objects.get(analysis__model="p910", target="dmos", codec="x264").computed_at is None
        assert run_analysis_job(rated).status == JobStatus.DONE
        page = client.get(reverse("studies:dashboard", args=["pilot"]) + query).content.decode()
        assert 'id="ranking"' in page and "P.910 Annex E" in page

    def test_next_elsewhere_is_not_followed(self, client, rated):
        response = client.post(reverse("studies:recompute", args=["pilot"]), {"next": "https://example.com/"})
        assert response.url == reverse("studies:dashboard", args=["pilot"])

    def test_recompute_is_a_post_for_staff(self, client, rated, settings):
        url = reverse("studies:recompute", args=["pilot"])
        assert client.get(url).status_code == 405
        settings.FACEQA_OPEN_RESEARCHER_PAGES = False
        assert client.post(url).status_code == 302 and not StoredAnalysis.objects.exists()
        User.objects.create_user("r", password="pw", is_staff=True)
        client.login(username="r", password="pw")
        assert client.post(url).status_code == 302 and StoredAnalysis.objects.exists()

    def test_a_new_vote_makes_the_stored_analysis_stale(self, client, stored):
        assert not stored_view(study=stored, options=AnalysisOptions()).is_stale
        _one_vote(stored)
        assert stored_view(study=stored, options=AnalysisOptions()).is_stale
        page = client.get(reverse("studies:dashboard", args=["pilot"])).content.decode()
        assert 'id="stale"' in page and "from 96 test votes" in page


class TestDebounce:
    def test_many_votes_schedule_one_run(self, study, sent_jobs, django_capture_on_commit_callbacks):
        participant, _ = services.participant_join(study=study)
        with django_capture_on_commit_callbacks(execute=True):
            for position in range(5):
                services.vote_submit(participant=participant, position=position, score=4)
        job = AnalysisJob.objects.get(study=study)
        assert sent_jobs == [("studies.analyse", job.pk, RECOMPUTE_DELAY_SECONDS)]
        assert job.status == JobStatus.QUEUED

    def test_a_vote_during_a_run_schedules_the_next_run(self, study, sent_jobs, monkeypatch,
                                                        django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            _one_vote(study)
            first = AnalysisJob.objects.get(study=study).task_id
            monkeypatch.setattr(analysis_store, "analyses_compute", lambda study: _one_vote(study))
            job = run_analysis_job(study)
        assert len(sent_jobs) == 2 and job.status == JobStatus.QUEUED and job.task_id != first

    def test_a_recompute_while_queued_replaces_the_queued_message(self, study, sent_jobs,
                                                                   django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            _one_vote(study)
            first = AnalysisJob.objects.get(study=study).task_id
            analysis_store.analyses_schedule(study=study, countdown=0, force=True)
        job = AnalysisJob.objects.get(study=study)
        assert len(sent_jobs) == 2 and job.task_ids == [job.task_id] and job.task_id != first

    def test_an_unreachable_broker_keeps_the_vote_and_says_why(self, study, monkeypatch,
                                                              django_capture_on_commit_callbacks):
        attempts = []

        def refused(self, *args, **kwargs):
            attempts.append(args)
            raise OperationalError("connection refused")
        monkeypatch.setattr(jobs, "_send", REAL_SEND)
        monkeypatch.setattr(jobs, "broker_pause", jobs.BrokerPause())
        monkeypatch.setattr(Signature, "apply_async", refused)
        with django_capture_on_commit_callbacks(execute=True):
            _one_vote(study)
        job = AnalysisJob.objects.get(study=study)
        assert Vote.objects.count() == 1 and job.status == JobStatus.FAILED and "connection refused" in job.message
        # The next send within the pause does not try the broker (each try costs the vote seconds)...
        with django_capture_on_commit_callbacks(execute=True):
            analysis_store.analyses_schedule(study=study, countdown=0)
        job.refresh_from_db()
        assert len(attempts) == 1 and job.status == JobStatus.FAILED and "less than 30 s ago" in job.message
        # ...and once the pause is over, it does.
        jobs.broker_pause.until = 0
        with django_capture_on_commit_callbacks(execute=True):
            analysis_store.analyses_schedule(study=study, countdown=0)
        assert len(attempts) == 2


def run_queued_step(model, study, work):
    """The study's queued job of ``model``, its step run as a worker runs it (lifecycle claim, work, release)."""
    job = model.objects.select_related("study").get(study=study)
    lifecycle.run_step(model, job.pk, task_id=job.task_id, work=lambda: work(job))
    return model.objects.get(pk=job.pk)


def run_export_job(study) -> DatasetExport:
    return run_queued_step(DatasetExport, study, export_write)


def run_analysis_job(study) -> AnalysisJob:
    return run_queued_step(AnalysisJob, study, lambda job: analysis_store.analyses_compute(study=job.study))


class TestExportJob:
    def test_writes_one_zip_and_removes_the_previous_one(self, rated, data_dir, sent_jobs,
                                                         django_capture_on_commit_callbacks):
        sent_jobs.clear()
        paths = []
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                export_request(study=rated, include_simulated=True)
            paths.append(data_dir / run_export_job(rated).path)
        export = DatasetExport.objects.get(study=rated)
        assert sent_jobs == [("studies.export", export.pk, 0)] * 2
        assert paths[0] != paths[1] and _files(data_dir / "exports") == {paths[1]}
        names = {name.split("/", 1)[1] for name in zipfile.ZipFile(paths[1]).namelist()}
        assert {"votes.csv", "pvs.csv", "src.csv", "hrc.csv", "participants.csv", "sureal_dataset.json",
                "README.md"} <= names
        export = DatasetExport.objects.get(study=rated)
        assert export.status == JobStatus.DONE and export.votes == 96 and export.participants == 12

    def test_a_queued_export_is_not_queued_twice(self, rated, sent_jobs, django_capture_on_commit_callbacks):
        sent_jobs.clear()
        with django_capture_on_commit_callbacks(execute=True):
            export_request(study=rated)
            export_request(study=rated)
        assert len(sent_jobs) == 1

    def test_people_only_export_of_simulated_votes_fails_with_the_reason(self, rated, data_dir):
        export_request(study=rated, include_simulated=False)
        with pytest.raises(VotesError):
            run_export_job(rated)
        export = DatasetExport.objects.get(study=rated)
        assert export.status == JobStatus.FAILED and "simulated ones left out" in export.message
        assert export.path == "" and not _files(data_dir / "exports")

    def test_page_queues_shows_the_state_and_links_the_zip(self, client, rated, sent_jobs,
                                                           django_capture_on_commit_callbacks):
        url = reverse("studies:export", args=["pilot"])
        assert "No export yet" in client.get(url).content.decode()
        assert client.get(reverse("studies:export_download", args=["pilot"])).status_code == 404
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(url, {"simulated": "1"}).status_code == 302
        assert "queued" in client.get(url).content.decode()
        run_export_job(rated)
        assert 'id="download"' in client.get(url).content.decode()
        response = client.get(reverse("studies:export_download", args=["pilot"]))
        assert response.status_code == 200 and b"".join(response.streaming_content)[:2] == b"PK"

    def test_a_get_never_writes_a_file(self, client, stored, data_dir):
        before = _files(data_dir)
        for name in ("studies:list", "studies:dashboard", "studies:analysis", "studies:export",
                     "studies:export_download"):
            url = reverse(name) if name == "studies:list" else reverse(name, args=["pilot"])
            client.get(url + "?simulated=1")
        assert _files(data_dir) == before


class TestBenchmarkPages:
    def test_runs_on_a_tiny_study_without_touching_the_database(self, db, data_dir, settings, capsys):
        settings.FACEQA_BOOTSTRAP_RESAMPLES = 20
        call_command("benchmark_pages", "--pvs", "20", "--metrics", "3", "--participants", "5", "--repeats", "2")
        lines = capsys.readouterr().out.strip().splitlines()
        assert re.fullmatch(r"slowest page p95: \d+ ms", lines[-1])
        pages = lines[2:-1]  # after the services' timings and the header
        assert len(pages) == 10 and all(" 200 " in page for page in pages)
        assert not Study.objects.exists() and not _files(data_dir)

    def test_too_many_metrics_is_an_error(self, db):
        with pytest.raises(CommandError, match="--metrics must be"):
            call_command("benchmark_pages", "--pvs", "5", "--metrics", "999", "--participants", "1",
                         "--repeats", "1")


def test_recompute_command_stores_now(rated, capsys):
    call_command("recompute_analyses", "pilot")
    assert StoredAnalysis.objects.get(study=rated).computed_at is not None
    assert "Stored 1 analyses of pilot" in capsys.readouterr().out


class TestDashboardStatisticsOptions:
    """The dashboard's cluster bootstrap, Holm and Krasula options: stored by the job, chosen by the page."""

    @staticmethod
    def _dashboard(client, query=""):
        return client.get(reverse("studies:dashboard", args=["pilot"]) + query)

    def test_src_resampling_rows_exist_only_when_asked_and_widen_the_intervals(self, client, rated):
        analyses_compute(study=rated)
        assert set(StoredCorrelation.objects.values_list("resampling", flat=True)) == {"pvs"}
        page = self._dashboard(client, "?resample=src").content.decode()
        assert "correlations on these PVSs with SRC resampling are not computed yet" in page
        assert 'name="resample" value="src"' in page  # the compute button asks for it
        analysis_request(study=rated, resampling="src")
        waiting = StoredCorrelation.objects.get(resampling="src")
        assert waiting.computed_at is None and waiting.target == "mos"
        analyses_compute(study=rated)
        by_pvs = {r["metric"]: r for r in StoredCorrelation.objects.get(target="mos", resampling="pvs").ranking}
        by_src = {r["metric"]: r for r in StoredCorrelation.objects.get(target="mos", resampling="src").ranking}
        for metric in ("ms_ssim", "psnr_y"):
            assert by_src[metric]["plcc"] == pytest.approx(by_pvs[metric]["plcc"])  # same data, other intervals
        assert any((by_src[m]["plcc_low"], by_src[m]["plcc_high"]) != (by_pvs[m]["plcc_low"], by_pvs[m]["plcc_high"])
                   for m in ("ms_ssim", "psnr_y"))
        (comparison,) = StoredCorrelation.objects.get(target="mos", resampling="src").comparisons
        assert comparison["r_diff_low"] <= comparison["r_diff_high"]
        page = self._dashboard(client, "?resample=src").content.decode()
        assert 'id="ranking"' in page and "cluster bootstrap, Davison" in page and "difference [95 % interval]" in page
        assert "over PVSs, each drawn alone" in self._dashboard(client).content.decode()

    def test_bad_option_values_fall_back_to_the_defaults(self, client, stored):
        response = self._dashboard(client, "?resample=bogus&correction=bogus")
        page = response.content.decode()
        assert response.status_code == 200 and 'id="ranking"' in page and "over PVSs, each drawn alone" in page
        assert 'value="none" selected' in page and "p-holm" not in page
        with pytest.raises(ValueError, match="unknown resampling"):
            analysis_request(study=stored, resampling="bogus")

    def test_holm_p_values_are_stored_and_shown_when_chosen(self, client, rated):
        from metrics.models import MetricResult, MetricStatus
        for pvs in set(rated.stimuli.filter(pvs__isnull=False).values_list("pvs", flat=True)):
            qp = Pvs.objects.get(pk=pvs).hrc.params["qp"]
            MetricResult.objects.create(pvs_id=pvs, metric="gmsd", status=MetricStatus.OK,
                                        value=qp / 200 + (pvs % 3) / 50, version="test")
        analyses_compute(study=rated)
        comparisons = StoredCorrelation.objects.get(target="mos", resampling="pvs").comparisons
        assert len(comparisons) == 3
        assert all(row["p_holm"] >= row["p"] for row in comparisons)
        assert all(row["significant"] == (row["p_holm"] < 0.05) for row in comparisons)
        plain = self._dashboard(client).content.decode()
        holm = self._dashboard(client, "?correction=holm").content.decode()
        assert "<th>p (Holm)</th><th>significant" not in plain and "with no correction" in plain
        assert "<th>p (Holm)</th><th>significant" in holm and "Holm-adjusted over all pairs" in holm
        assert holm.count('class="num p-holm"') == 3

    def test_the_correction_decides_the_shown_significance(self):
        rows = [{"p": 0.03, "p_holm": 0.09}, {"p": 0.001, "p_holm": 0.003}, {"p": 0.2}]
        plain = analysis_store.shown_comparisons(rows)
        holm = analysis_store.shown_comparisons(rows, correction="holm")
        assert [r["shown_significant"] for r in plain] == [True, True, False]
        assert [r["shown_significant"] for r in holm] == [False, True, None]  # None: stored before p_holm
        assert holm[0]["shown_p"] == 0.09 and plain[0]["shown_p"] == 0.03
        with pytest.raises(ValueError, match="unknown correction"):
            analysis_store.shown_comparisons(rows, correction="bonferroni")

    def test_krasula_measures_are_stored_for_the_mos_over_all_pvss_and_shown(self, client, stored):
        correlations = {c.target: c for c in StoredCorrelation.objects.filter(resampling="pvs")}
        assert correlations["dmos"].krasula == {}
        krasula = correlations["mos"].krasula
        assert "message" not in krasula
        rows = {row["metric"]: row for row in krasula["metrics"]}
        assert set(rows) == {"ms_ssim", "psnr_y"}
        for row in rows.values():
            for measure in ("auc_ds", "auc_bw", "cc0"):
                assert 0 <= row[measure] <= 1
            assert row["auc_bw_low"] <= row["auc_bw"] <= row["auc_bw_high"]
            assert row["n_krasula"] == 6 and row["n_pairs_different"] + row["n_pairs_similar"] > 0
        (pair,) = krasula["comparisons"]
        assert pair["p_auc_bw_holm"] >= pair["p_auc_bw"]
        page = self._dashboard(client).content.decode()
        assert "Metric evaluation (Krasula et al., QoMEX 2016)" in page and 'id="krasula"' in page
        assert "resolving power" in page and "after the metric's logistic mapping" in page
        assert "Computed for the MOS over all PVSs only" in self._dashboard(client, "?target=dmos").content.decode()

    def test_votes_krasula_cannot_use_store_the_reason(self, client, rated, monkeypatch):
        from studies.evaluation import EvaluationError

        def refuse(*args, **kwargs):
            raise EvaluationError("too few votes per stimulus")
        monkeypatch.setattr("studies.results.evaluate_metrics", refuse)
        analyses_compute(study=rated)
        assert StoredCorrelation.objects.get(target="mos").krasula == {"message": "too few votes per stimulus"}
        page = self._dashboard(client).content.decode()
        assert "Not available: too few votes per stimulus" in page and 'id="ranking"' in page
