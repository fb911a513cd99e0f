"""Study results: analysis, per-PVS table, dashboard and analysis pages, export, correlate."""
import json

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from studies import services
from studies.analysis_store import AnalysisOptions, analyses_compute, analysis_request
from studies.export import ExportError, dataset_export
from studies.management.commands.correlate import williams_wins
from studies.results import (
    Filters,
    NoVotesError,
    correlation_breakdown,
    correlation_results,
    study_analysis,
)


@pytest.fixture
def rated(study, settings):
    """The pilot study rated by 12 simulated observers, the last 2 careless."""
    settings.FACEQA_BOOTSTRAP_RESAMPLES = 100
    services.study_simulate_ratings(study=study, participants=12, seed=1, careless=2)
    return study


class TestStudyAnalysis:
    def test_no_votes_is_said(self, study):
        with pytest.raises(NoVotesError, match="no votes yet"):
            study_analysis(study)

    def test_pvs_table_joins_scores_bitrate_and_metrics(self, rated):
        analysis = study_analysis(rated, model="mos", ci="normal")
        table = analysis.pvs
        assert len(table) == 6 and table["n_votes"].min() >= 3
        assert (table["mos_ci95_low"] < table["mos"]).all() and (table["mos"] < table["mos_ci95_high"]).all()
        assert table["kbps"].notna().all() and table["ms_ssim"].notna().all() and table["ssim"].isna().all()
        assert set(table["family"]) == {"conventional"}
        rejected = analysis.participants.loc[analysis.participants["rejected"], "subject"]
        votes = analysis.votes[~analysis.votes["subject"].isin(rejected)]
        expected = votes.groupby("stimulus")["vote"].mean()
        assert table.set_index("stimulus")["mos"].to_dict() == pytest.approx(expected[table["stimulus"]].to_dict())

    def test_screening_rejects_the_careless_with_reasons(self, rated):
        participants = study_analysis(rated).participants.set_index("subject")
        careless = participants.loc[["sim011", "sim012"]]
        assert careless["rejected"].all() and careless["reason"].str.len().gt(0).all()
        assert participants["rejected"].sum() <= 3  # at most one careful observer
        assert participants["simulated"].all()

    def test_gold_failures_come_first_and_say_which_trials(self, rated):
        rated.gold_max_failures = 0
        rated.save()
        reasons = study_analysis(rated).participants.set_index("subject")["reason"]
        assert reasons["sim011"].startswith("failed") and "expected" in reasons["sim011"]

    def test_people_only_leaves_simulated_out(self, rated):
        with pytest.raises(NoVotesError, match="simulated ones left out"):
            study_analysis(rated, include_simulated=False)

    def test_ranking_follows_the_latent_metric(self, rated):
        ranking = correlation_results(study_analysis(rated), n_bootstrap=100)
        assert ranking["metric"].iloc[0] in {"ms_ssim", "psnr_y"}
        assert set(ranking.dropna(subset=["plcc"])["metric"]) == {"ms_ssim", "psnr_y"}
        assert (ranking["plcc_low"] <= ranking["plcc"]).all()

    def test_breakdown_by_family_and_codec(self, rated):
        labels, rows = correlation_breakdown(study_analysis(rated))
        assert labels == ["all", "conventional", "x264"]
        cells = {row["metric"]: row["cells"] for row in rows}
        assert set(cells) == {"ms_ssim", "psnr_y"}
        assert cells["ms_ssim"][0] == cells["ms_ssim"][1] == cells["ms_ssim"][2]  # one codec: same PVSs
        assert cells["ms_ssim"][0][2] == 6

    def test_filters_narrow_the_pvs(self, rated):
        analysis = study_analysis(rated)
        assert len(Filters(src="src0").apply(analysis.pvs)) == 2
        assert Filters(family="generative").apply(analysis.pvs).empty


@pytest.fixture
def stored(rated):
    """The rated study with its analyses stored, as the analysis job leaves them."""
    analyses_compute(study=rated)
    return rated


class TestPages:
    @pytest.mark.parametrize("query, asked", [
        ("", {}),
        ("?model=p910&target=dmos", {"options": AnalysisOptions(model="p910"), "target": "dmos"}),
        ("?family=conventional&metric=psnr_y", {"filters": Filters(family="conventional")}),
        ("?model=bogus&ci=normal", {"options": AnalysisOptions(ci="normal")}),
    ])
    def test_dashboard_renders(self, client, rated, query, asked):
        analysis_request(study=rated, **asked)
        analyses_compute(study=rated)
        response = client.get(reverse("studies:dashboard", args=["pilot"]) + query)
        page = response.content.decode()
        assert response.status_code == 200
        assert 'id="simulated-banner"' in page and 'id="ranking"' in page and "scatter-figure" in page
        assert 'id="breakdown"' in page and "from 96 test votes" in page

    def test_dashboard_of_an_unrated_study_says_so(self, client, study):
        analyses_compute(study=study)
        response = client.get(reverse("studies:dashboard", args=["pilot"]))
        assert response.status_code == 200 and "no votes yet" in response.content.decode()

    def test_analysis_page_lists_each_participant_and_why(self, client, stored):
        page = client.get(reverse("studies:analysis", args=["pilot"])).content.decode()
        assert page.count("SIMULATED</span>") == 12
        assert page.count("<strong>rejected</strong>") >= 2
        assert "gold trial(s)" in page or "kurtosis" in page

    def test_study_list_links_the_participant_url(self, client, rated):
        page = client.get(reverse("studies:list")).content.decode()
        assert "/study/pilot/" in page and "12 SIMULATED" in page


class TestExport:
    def test_folder_holds_the_dataset(self, rated, tmp_path):
        report = dataset_export(study=rated, out_dir=tmp_path / "out", include_simulated=True, media=True)
        folder = report.folder
        votes = pd.read_csv(folder / "votes.csv")
        pvs = pd.read_csv(folder / "pvs.csv")
        media = pd.read_csv(folder / "media.csv")
        dataset = json.loads((folder / "sureal_dataset.json").read_text())
        card = (folder / "README.md").read_text()
        assert len(votes) == report.votes == 12 * 8 and votes["simulated"].all()  # 5 PVSs + 3 references each
        assert {"mos", "mos_ci95_low", "dmos", "n_votes", "kbps", "codec", "curve", "family", "rate_point",
                "ms_ssim"} <= set(pvs)
        hrc = pd.read_csv(folder / "hrc.csv")
        assert list(hrc.columns) == ["hrc", "codec", "curve", "family", "codec_version", "params"]
        assert set(hrc["curve"]) == {"x264"} and set(hrc["family"]) == {"conventional"}
        assert len(dataset["dis_videos"]) == 9 and len(dataset["ref_videos"]) == 3
        assert media["sha256"].str.len().eq(64).all() and (folder / media["path"].iloc[0]).is_file()
        assert "SIMULATED DATA INCLUDED" in card and "ACR-HR" in card and "sureal 0.9.0" in card
        assert "external" not in (folder / "participants.csv").read_text()
        src = pd.read_csv(folder / "src.csv")
        assert "origin_path" not in src and not src["origin_file"].str.contains("/").any()
        assert "No crowd-platform id" in card
        everything = "".join(path.read_text(errors="replace") for path in folder.glob("*.csv"))
        assert "/clips/" not in everything

    def test_non_empty_folder_is_refused_and_kept(self, rated, tmp_path):
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "mine.txt").write_text("keep")
        with pytest.raises(ExportError, match="not empty"):
            dataset_export(study=rated, out_dir=tmp_path / "out", include_simulated=True)
        assert [p.name for p in (tmp_path / "out").iterdir()] == ["mine.txt"]

    def test_command_refuses_a_study_without_human_votes(self, rated, tmp_path):
        with pytest.raises(CommandError, match="simulated ones left out"):
            call_command("export_dataset", "pilot", "--out", str(tmp_path / "x"))
        assert not (tmp_path / "x").exists()


class TestCorrelateCommand:
    def test_prints_the_ranked_table(self, rated, capsys):
        call_command("correlate", "pilot", "--bootstrap", "100")
        out = capsys.readouterr().out
        assert out.startswith("SIMULATED: 12 simulated participants")
        assert "ms_ssim" in out and "psnr_y" in out and "plcc_linear" in out

    def test_williams_wins_one_entry_per_winner_wrapped(self):
        significant = pd.DataFrame({"metric_a": ["ms_ssim"] * 20 + ["gmsd"],
                                    "metric_b": [f"metric_{i}" for i in range(20)] + ["aed"]})
        lines = williams_wins(significant, width=60)
        assert lines[1] == "  gmsd > aed"
        first = lines[0].splitlines()
        assert len(first) > 1 and all(len(line) <= 60 for line in first)
        assert first[0].startswith("  ms_ssim > metric_0, ") and first[1].startswith(" " * 12 + "metric_")
        assert " ".join(first).replace(",", " ").split()[2:] == [f"metric_{i}" for i in range(20)]

    def test_unknown_study(self, db):
        with pytest.raises(CommandError, match="no study named 'nope'"):
            call_command("correlate", "nope")
