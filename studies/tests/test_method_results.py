"""Analysis, pages and export of DCR, CCR and PC studies and of studies with several rating dimensions.

Each study is built directly with the ORM (stimuli, trials with their order, votes
with every dimension's answer), so the expected numbers can be worked out by hand.
"""
import json

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils.html import escape

from metrics.models import MetricResult, MetricStatus
from studies.analysis_store import AnalysisOptions, analyses_compute, analysis_request, stored_view
from studies.dimensions import parse_dimensions
from studies.export import dataset_export
from studies.models import Participant, Platform, StimulusRole, StoredAnalysis, Study, Trial, Vote
from studies.models import Stimulus as StimulusRow
from studies.results import ccr_hrc_pairs, correlation_results, study_analysis
from studies.selectors import UnknownDimensionError, gold_failures, pair_votes_frame, votes_frame


def _study(name: str, method: str, dimensions: str | None = None) -> Study:
    return Study.objects.create(name=name, method=method, seed=1, completion_code="C0DE",
                                dimensions=parse_dimensions(dimensions), trap_enabled=False)


def _stimulus(study, source, pvs=None, companion=None, *, pair=False, expected=(), role=StimulusRole.TEST):
    return StimulusRow.objects.create(
        study=study, role=role, source=source, pvs=pvs, media_path=(pvs or source).browser_path,
        is_pair=pair, companion_pvs=companion,
        companion_media_path=(companion or source).browser_path if pair else "", expected_scores=list(expected))


def _rate(study, answers, *, simulated=False):
    """One participant per item of ``answers``: a list of (stimulus, score or {key: score}, swapped, repeat)."""
    people = []
    for votes in answers:
        participant = Participant.objects.create(study=study, assignment_seed=0, is_simulated=simulated,
                                                 platform=Platform.SIMULATED if simulated else Platform.LAB)
        for position, (stimulus, score, swapped, repeat) in enumerate(votes):
            trial = Trial.objects.create(participant=participant, stimulus=stimulus, position=position,
                                         swapped=swapped, repeat=repeat)
            scores = score if isinstance(score, dict) else {study.dimensions[0]["key"]: score}
            Vote.objects.create(trial=trial, score=scores[study.dimensions[0]["key"]], scores=scores)
        people.append(participant)
    return people


def _by_stimulus(table, column):
    return table.set_index("stimulus")[column].to_dict()


@pytest.fixture
def low_high(database):
    """Per SRC: (SRC, PVS at QP 45 (worse), PVS at QP 30 (better)), 3 SRCs."""
    by_source = {}
    for pvs in database:
        by_source.setdefault(pvs.source, {})[pvs.hrc.params["qp"]] = pvs
    return [(source, qps[45], qps[30]) for source, qps in sorted(by_source.items(), key=lambda item: item[0].name)]


class TestDcr:
    @pytest.fixture
    def dcr(self, low_high):
        """A DCR study: each PVS after its SRC, and each SRC against itself (gold); 3 viewers.

        Impairment votes: QP 45 → 2, 3, 2; QP 30 → 4, 5, 4; REF/REF → 5. The first viewer sees the
        first QP 45 pair a second time (a consistency repeat) and answers 5 there."""
        study = _study("dcr-study", "dcr")
        pairs = []
        for source, low, high in low_high:
            pairs += [(_stimulus(study, source, low, pair=True), [2, 3, 2]),
                      (_stimulus(study, source, high, pair=True), [4, 5, 4]),
                      (_stimulus(study, source, pair=True, expected=(4, 5)), [5, 5, 5])]
        answers = [[(stimulus, votes[i], False, 0) for stimulus, votes in pairs] for i in range(3)]
        answers[0].append((pairs[0][0], 5, False, 1))
        _rate(study, answers)
        return study

    def test_the_pvs_of_the_pair_is_analysed_on_the_impairment_scale(self, dcr):
        votes = votes_frame(dcr)
        assert len(votes) == 27  # the repeat is left out
        assert set(votes.loc[votes["is_reference"] == 1, "stimulus"]) == {"src0/REF", "src1/REF", "src2/REF"}
        analysis = study_analysis(dcr, model="mos")
        assert analysis.targets == ("mos",) and "dmos" not in analysis.pvs
        mos = _by_stimulus(analysis.pvs, "mos")
        assert mos["src0/x264 qp=45"] == pytest.approx(7 / 3)  # not 3.0: the repeat's 5 does not count
        assert mos["src1/x264 qp=30"] == pytest.approx(13 / 3)

    def test_stored_and_shown_as_a_dcr_dmos(self, dcr, client):
        analyses_compute(study=dcr, n_bootstrap=20)
        (row,) = StoredAnalysis.objects.filter(study=dcr)
        assert set(row.correlations.values_list("target", flat=True)) == {"mos"}
        page = client.get(reverse("studies:analysis", args=["dcr-study"])).content.decode()
        assert "DMOS (DCR): mean impairment score" in page and "DMOS (ACR-HR)" not in page
        dashboard = client.get(reverse("studies:dashboard", args=["dcr-study"]) + "?target=dmos")
        assert dashboard.status_code == 200 and 'id="ranking"' in dashboard.content.decode()
        # Krasula's measures from the impairment votes of the 6 PVSs (the SRC against itself has no metrics).
        krasula = row.correlations.get().krasula
        assert {r["metric"] for r in krasula["metrics"]} == {"ms_ssim", "psnr_y"}
        assert all(r["n_krasula"] == 6 and 0 <= r["auc_bw"] <= 1 for r in krasula["metrics"])
        assert 'id="krasula"' in dashboard.content.decode()

    def test_exported_with_the_impairment_scale(self, dcr, tmp_path):
        folder = dataset_export(study=dcr, out_dir=tmp_path / "out", media=True).folder
        votes = pd.read_csv(folder / "votes.csv")
        assert len(votes) == 27 and "vote_overall" in votes
        assert "dmos" not in pd.read_csv(folder / "pvs.csv")
        card = (folder / "README.md").read_text()
        assert "DCR (degradation category rating)" in card and "5 = Imperceptible" in card
        assert "BT.500-15 DSIS" in card and "DMOS by construction" in card
        media = pd.read_csv(folder / "media.csv")
        assert set(media["stimulus"]) >= {"src0/REF", "src0/x264 qp=45"}  # the pair's B (the SRC) too
        assert json.loads((folder / "sureal_dataset.json").read_text())["dis_videos"]


class TestCcr:
    @pytest.fixture
    def ccr(self, low_high):
        """A CCR study of 2 viewers: per SRC, REF against QP 45 (A = the PVS) and QP 45 against QP 30.

        As answered on the page: viewer 1 sees every pair in canonical order and answers +2 for REF
        (B) against QP 45 (A), +1 for QP 30 (B) against QP 45 (A); viewer 2 sees every pair swapped
        and answers −3 (A, QP 45, shown second, is much worse than REF, shown first) and −2."""
        study = _study("ccr-study", "ccr")
        stimuli = []
        for source, low, high in low_high:
            stimuli.append(_stimulus(study, source, low, None, pair=True))
            stimuli.append(_stimulus(study, source, low, high, pair=True))
        _rate(study, [
            [(s, 2 if s.companion_pvs_id is None else 1, False, 0) for s in stimuli],
            [(s, -3 if s.companion_pvs_id is None else -2, True, 0) for s in stimuli],
        ])
        return study

    def test_a_swapped_vote_is_turned_back(self, ccr):
        votes = pair_votes_frame(ccr)
        swapped = votes[votes["swapped"]]
        assert set(swapped["vote"]) == {3, 2} and set(votes.loc[~votes["swapped"], "vote"]) == {2, 1}
        assert set(votes["hrc_b"]) == {"REF", "x264 qp=30"} and set(votes["hrc_a"]) == {"x264 qp=45"}

    def test_cmos_against_the_reference_and_per_pair_of_hrcs(self, ccr):
        analysis = study_analysis(ccr, ci="normal")
        assert analysis.targets == ("cmos",)
        cmos = _by_stimulus(analysis.pvs, "cmos")
        # The PVS against its SRC: −2 and −3 (the REF was better), mean −2.5.
        assert cmos["src0/x264 qp=45"] == pytest.approx(-2.5)
        assert pd.isna(cmos["src0/x264 qp=30"])  # never shown against its SRC
        pairs = analysis.pairs.set_index(["hrc_a", "hrc_b"])
        # Alphabetical: REF < x264 qp=30 < x264 qp=45; QP 45 against REF: −2.5 as above.
        assert pairs.loc[("REF", "x264 qp=45"), "cmos"] == pytest.approx(-2.5)
        assert pairs.loc[("x264 qp=30", "x264 qp=45"), "cmos"] == pytest.approx(-1.5)
        assert pairs.loc[("x264 qp=30", "x264 qp=45"), "n_votes"] == 6
        low, high = pairs.loc[("x264 qp=30", "x264 qp=45"), ["ci95_low", "ci95_high"]]
        assert low < -1.5 < high

    def test_hrc_pairs_orientation_does_not_depend_on_the_stimulus_order(self):
        votes = pd.DataFrame({"subject": ["s1", "s2"], "stimulus_a": ["c/b", "c/a"], "stimulus_b": ["c/a", "c/b"],
                              "hrc_a": ["b", "a"], "hrc_b": ["a", "b"], "vote": [1, -1]})
        (row,) = ccr_hrc_pairs(votes, ci="normal").to_dict("records")
        assert (row["hrc_a"], row["hrc_b"], row["cmos"]) == ("a", "b", -1.0)
        assert row["ci95_low"] == row["ci95_high"] == -1.0  # two equal votes: no spread

    def test_gold_is_checked_in_the_canonical_order(self, ccr, low_high):
        source, low, _ = low_high[0]
        trap = _stimulus(ccr, source, low, pair=True, expected=(3,), role=StimulusRole.TRAP)
        participant = Participant.objects.filter(study=ccr).last()
        trial = Trial.objects.create(participant=participant, stimulus=trap, position=99, swapped=True)
        Vote.objects.create(trial=trial, score=-3, scores={"overall": -3})  # +3 once turned back: passed
        assert gold_failures(ccr) == {}

    def test_without_pairs_against_the_src_the_hrc_pairs_are_still_stored(self, low_high, client):
        study = _study("ccr-no-ref", "ccr")
        stimuli = [_stimulus(study, source, low, high, pair=True) for source, low, high in low_high]
        _rate(study, [[(s, 1, False, 0) for s in stimuli], [(s, 2, False, 0) for s in stimuli]])
        analyses_compute(study=study, n_bootstrap=20)
        (row,) = StoredAnalysis.objects.filter(study=study)
        assert row.message == "" and all(pvs["cmos"] is None for pvs in row.pvs)
        assert [(p["hrc_a"], p["hrc_b"], p["cmos"]) for p in row.pairs] == [("x264 qp=30", "x264 qp=45", -1.5)]
        for page in ("studies:analysis", "studies:dashboard"):
            assert client.get(reverse(page, args=["ccr-no-ref"])).status_code == 200

    def test_stored_shown_and_exported(self, ccr, client, tmp_path):
        analyses_compute(study=ccr, n_bootstrap=20)
        page = client.get(reverse("studies:analysis", args=["ccr-study"])).content.decode()
        assert 'id="hrc-pairs"' in page and "CMOS against the SRC" in page and "−2.50" not in page
        assert "-2.50" in page
        dashboard = client.get(reverse("studies:dashboard", args=["ccr-study"])).content.decode()
        assert 'value="cmos" selected' in dashboard
        folder = dataset_export(study=ccr, out_dir=tmp_path / "out").folder
        votes = pd.read_csv(folder / "pair_votes.csv")
        assert list(votes.columns[:4]) == ["subject", "stimulus_a", "stimulus_b", "vote"]
        assert "vote_overall" in votes and not (folder / "votes.csv").exists()
        assert sorted(votes["vote"].unique()) == [1, 2, 3]
        assert (folder / "hrc_pairs.csv").is_file()
        card = (folder / "README.md").read_text()
        assert "CCR (comparison category rating)" in card and "ITU-T P.800" in card and "3 = Much better" in card


class TestPc:
    @pytest.fixture
    def pc(self, low_high):
        """A PC study: per SRC every pair of REF, QP 45 and QP 30; 4 viewers always prefer REF over
        either PVS and QP 30 over QP 45, the choice given as shown (the order drawn per trial)."""
        study = _study("pc-study", "pc")
        rank = {None: 0, 30: 1, 45: 2}  # lower is better
        answers = [[] for _ in range(4)]
        for source, low, high in low_high:
            for a, b in ((low, None), (high, None), (low, high)):
                stimulus = _stimulus(study, source, a, b, pair=True)
                better_is_a = rank[a.hrc.params["qp"] if a else None] < rank[b.hrc.params["qp"] if b else None]
                for viewer in range(4):
                    swapped = viewer % 2 == 1
                    first_is_a = not swapped
                    answers[viewer].append((stimulus, 1 if better_is_a == first_is_a else 2, swapped, 0))
        _rate(study, answers)
        return study

    def test_preferred_names_the_chosen_stimulus(self, pc):
        votes = pair_votes_frame(pc)
        pvs_vs_ref = votes[votes["stimulus_b"].str.endswith("/REF")]
        assert (pvs_vs_ref["preferred"] == pvs_vs_ref["stimulus_b"]).all()
        assert (pvs_vs_ref["vote"] == 2).all()

    def test_the_always_preferred_pvs_ranks_first(self, pc):
        analysis = study_analysis(pc)
        assert analysis.targets == ("scale",)
        scale = _by_stimulus(analysis.pvs, "scale")
        for src in ("src0", "src1", "src2"):
            assert scale[f"{src}/x264 qp=30"] > scale[f"{src}/x264 qp=45"]
            assert scale[f"{src}/x264 qp=30"] < 0  # below the SRC, its anchor at 0
        assert (analysis.pairs.loc[analysis.pairs["hrc"] == "REF", "scale"] == 0).all()

    def test_stored_and_shown(self, pc, client):
        analyses_compute(study=pc, n_bootstrap=20)
        (row,) = StoredAnalysis.objects.filter(study=pc)
        assert row.message == "" and "THURSTONE" in row.model_version and len(row.pairs) == 9
        page = client.get(reverse("studies:analysis", args=["pc-study"])).content.decode()
        assert 'id="pc-scale"' in page and "scale value (PC)" in page and '<select name="model">' not in page
        dashboard = client.get(reverse("studies:dashboard", args=["pc-study"])).content.decode()
        assert 'value="scale" selected' in dashboard and 'id="ranking"' in dashboard
        assert row.correlations.get().krasula == {} and 'id="krasula"' not in dashboard
        assert escape("Krasula's measures need per-stimulus votes; this method's votes are pairs") in dashboard

    def test_exported_with_the_sureal_pc_dataset(self, pc, tmp_path):
        folder = dataset_export(study=pc, out_dir=tmp_path / "out").folder
        votes = pd.read_csv(folder / "pair_votes.csv")
        assert {"preferred", "vote_overall"} <= set(votes)
        dataset = json.loads((folder / "sureal_pc_dataset.json").read_text())
        assert dataset["dis_videos"] and (folder / "pc_scale.csv").is_file()
        assert "PC (pair comparison" in (folder / "README.md").read_text()


class TestDimensions:
    @pytest.fixture
    def two_dimensions(self, low_high):
        """An ACR-HR study asking overall quality and identity; 3 viewers. Overall: REF 5, QP 30 4,
        QP 45 2. Identity: REF 5, QP 30 2, QP 45 4 (the sharper PVS drifts from the person)."""
        study = _study("dims", "acr-hr", "overall,identity")
        plan = []
        for source, low, high in low_high:
            plan += [(_stimulus(study, source, expected=(4, 5)), 5, 5), (_stimulus(study, source, high), 4, 2),
                     (_stimulus(study, source, low), 2, 4)]
        _rate(study, [[(s, {"overall": o, "identity": i}, False, 0) for s, o, i in plan]] * 3)
        for pvs in {s.pvs for s, _, _ in plan if s.pvs}:  # an identity metric that agrees with the identity votes
            MetricResult.objects.create(pvs=pvs, metric="id_sim", status=MetricStatus.OK, version="test",
                                        value=0.9 if pvs.hrc.params["qp"] == 45 else 0.5 - pvs.source_id / 100)
        return study

    def test_each_dimension_is_its_own_scale(self, two_dimensions):
        overall = _by_stimulus(study_analysis(two_dimensions, model="mos").pvs, "mos")
        identity = _by_stimulus(study_analysis(two_dimensions, model="mos", dimension="identity").pvs, "mos")
        assert overall["src0/x264 qp=30"] == 4 and identity["src0/x264 qp=30"] == 2
        assert identity["src0/x264 qp=45"] == 4
        with pytest.raises(UnknownDimensionError, match="asks overall, identity"):
            study_analysis(two_dimensions, dimension="motion")

    def test_every_dimension_is_stored_and_chosen_on_the_pages(self, two_dimensions, client):
        analyses_compute(study=two_dimensions, n_bootstrap=20)
        assert set(StoredAnalysis.objects.filter(study=two_dimensions).values_list("dimension", flat=True)) == {
            "overall", "identity"}
        stored = stored_view(study=two_dimensions, options=AnalysisOptions(dimension="identity"))
        assert _by_stimulus(stored.pvs, "mos")["src1/x264 qp=45"] == 4
        url = reverse("studies:analysis", args=["dims"])
        page = client.get(url + "?dimension=identity").content.decode()
        assert '<option value="identity" selected>' in page and "Identity preserved" in page
        assert client.get(url + "?dimension=motion").status_code == 404
        dashboard = client.get(reverse("studies:dashboard", args=["dims"]) + "?dimension=identity").content.decode()
        assert 'id="related"' in dashboard
        ranking = dashboard[dashboard.index('id="ranking"'):]
        assert ranking.index("id_sim") < ranking.index("ms_ssim")  # the identity metric listed first
        overall = client.get(reverse("studies:dashboard", args=["dims"])).content.decode()
        assert 'id="related"' not in overall

    def test_correlation_follows_the_dimension(self, two_dimensions):
        identity = correlation_results(study_analysis(two_dimensions, model="mos", dimension="identity"),
                                       n_bootstrap=20).set_index("metric")
        overall = correlation_results(study_analysis(two_dimensions, model="mos"), n_bootstrap=20).set_index("metric")
        assert identity.loc["id_sim", "srocc"] > 0.5 > overall.loc["id_sim", "srocc"]

    def test_a_request_for_an_unknown_dimension_is_refused(self, two_dimensions):
        with pytest.raises(UnknownDimensionError):
            analysis_request(study=two_dimensions, options=AnalysisOptions(dimension="nope"))
        with pytest.raises(ValueError, match="choose one of mos, dmos"):
            analysis_request(study=two_dimensions, target="cmos")

    def test_correlate_command_takes_a_dimension(self, two_dimensions, capsys):
        call_command("correlate", "dims", "--dimension", "identity", "--model", "mos", "--bootstrap", "20")
        assert "MOS (identity)" in capsys.readouterr().out
        with pytest.raises(CommandError, match="does not ask dimension 'motion'"):
            call_command("correlate", "dims", "--dimension", "motion")
        with pytest.raises(CommandError, match="not 'cmos'"):
            call_command("correlate", "dims", "--target", "cmos")

    def test_export_has_a_column_per_dimension_and_the_wording(self, two_dimensions, tmp_path):
        folder = dataset_export(study=two_dimensions, out_dir=tmp_path / "out").folder
        votes = pd.read_csv(folder / "votes.csv")
        assert {"vote_overall", "vote_identity"} <= set(votes)
        assert (votes["vote"] == votes["vote_overall"]).all()
        assert set(votes.loc[votes["hrc"] == "x264 qp=30", "vote_identity"]) == {2}
        assert pd.read_csv(folder / "pvs_identity.csv").set_index("stimulus")["mos"]["src0/x264 qp=45"] == 4
        card = (folder / "README.md").read_text()
        assert "how well the person's identity is preserved" in card and "ACR-HR" in card
