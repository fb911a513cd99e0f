"""Bjøntegaard deltas: the pure functions against independent truths, the per-SRC means from the
database, the BD-rate matrix of the rate–distortion dashboard and ``manage.py bd_rate``."""
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from metrics.bd import bd_matrix, codec_bd
from metrics.bd_rate import (
    LOW_OVERLAP,
    MIN_POINTS,
    bd_over_sources,
    bd_quality,
    bd_rate,
)
from metrics.tests.test_views import add_result, make_hrc, make_pvs, make_source

RATES = [8.0, 15.0, 31.0, 66.0]
PSNR = [30.1, 32.9, 35.6, 38.2]
LPIPS = [0.42, 0.33, 0.25, 0.19]
# The example curves of the bjontegaard package's README (x265 at two presets, kbit/s and dB).
README_ANCHOR = ([9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851])
README_TEST = ([9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987])
# A lower-is-better metric, curves of different lengths that overlap over 60 % of the quality range.
PARTIAL_ANCHOR = ([5.7, 12.0, 24.0, 48.0, 90.0], [0.41, 0.33, 0.26, 0.2, 0.16])
PARTIAL_TEST = ([3.0, 6.0, 11.0, 20.0], [0.36, 0.3, 0.25, 0.21])


class TestIndependentTruths:
    def test_rates_scaled_by_0_8_give_exactly_minus_20_percent(self):
        result = bd_rate(RATES, PSNR, [0.8 * rate for rate in RATES], PSNR)
        assert result.value == pytest.approx(-20.0, abs=1e-9)
        assert result.overlap == 1.0 and result.warnings == () and result.reason == ""

    def test_the_anchor_against_the_faster_codec_costs_25_percent_more(self):
        assert bd_rate([0.8 * rate for rate in RATES], PSNR, RATES, PSNR).value == pytest.approx(25.0, abs=1e-9)

    def test_quality_shifted_by_1_db_gives_bd_psnr_exactly_1(self):
        result = bd_quality(RATES, PSNR, RATES, [value + 1 for value in PSNR])
        assert result.value == pytest.approx(1.0, abs=1e-12)
        assert bd_rate(RATES, PSNR, RATES, [value + 1 for value in PSNR]).value < 0

    def test_identical_curves_differ_by_nothing(self):
        assert bd_rate(RATES, PSNR, RATES, PSNR).value == pytest.approx(0.0, abs=1e-12)
        assert bd_quality(RATES, PSNR, RATES, PSNR).value == pytest.approx(0.0, abs=1e-12)

    def test_agrees_with_the_bjontegaard_package_pchip(self):
        # bjontegaard 1.3.0 (FAU-LMS), method="pchip": its authors found it equal to the JVET-T2010 sheet.
        assert bd_rate(*README_ANCHOR, *README_TEST).value == pytest.approx(-4.417485350589045, abs=1e-9)
        assert bd_quality(*README_ANCHOR, *README_TEST).value == pytest.approx(0.11969278542479489, abs=1e-9)

    def test_agrees_with_the_bjontegaard_package_on_a_lower_is_better_metric(self):
        # That package refuses falling curves, so it was given -LPIPS; BD-rate does not depend on the
        # direction, and its BD-quality on -LPIPS is minus ours.
        rate = bd_rate(*PARTIAL_ANCHOR, *PARTIAL_TEST, higher_is_better=False)
        quality = bd_quality(*PARTIAL_ANCHOR, *PARTIAL_TEST, higher_is_better=False)
        assert rate.value == pytest.approx(-61.240018892377336, abs=1e-9)
        assert quality.value == pytest.approx(-0.08863548051915004, abs=1e-9)
        assert rate.overlap == pytest.approx(0.6) and rate.overlap < LOW_OVERLAP
        assert rate.warnings == (
            "the curves overlap over 60% of their quality range; the number describes only that part",)


class TestCurves:
    def test_point_order_does_not_matter(self):
        order = [2, 0, 3, 1]
        shuffled = ([RATES[i] for i in order], [PSNR[i] for i in order])
        test = ([0.7 * rate for rate in RATES], [value + 0.3 for value in PSNR])
        assert bd_rate(*shuffled, *test).value == pytest.approx(bd_rate(RATES, PSNR, *test).value, abs=1e-12)

    def test_lower_is_better_metric_keeps_the_rate_sign_and_its_own_quality_sign(self):
        faster = [0.8 * rate for rate in RATES]
        assert bd_rate(RATES, LPIPS, faster, LPIPS, higher_is_better=False).value == pytest.approx(-20.0, abs=1e-9)
        better = [value - 0.01 for value in LPIPS]
        assert bd_quality(RATES, LPIPS, RATES, better, higher_is_better=False).value == pytest.approx(-0.01, abs=1e-12)

    def test_a_point_no_better_than_a_cheaper_one_is_dropped_with_a_warning(self):
        rates, psnr = [*RATES, 90.0], [*PSNR, 37.0]
        test = ([0.8 * rate for rate in RATES], [value + 0.2 for value in PSNR])
        result = bd_rate(rates, psnr, *test)
        assert result.value == pytest.approx(bd_rate(RATES, PSNR, *test).value, abs=1e-12)
        warning = "the anchor curve is not monotonic: dropped rate (quality) 90 (37), no better than a cheaper point"
        assert result.warnings == (warning,)

    def test_too_few_points_left_after_dropping_gives_no_number_and_says_why(self):
        result = bd_rate(RATES, [30.1, 32.9, 32.0, 38.2], RATES, PSNR)
        assert result.value is None
        assert result.reason == "the anchor curve keeps 3 of its points after dropping non-monotonic ones, BD needs 4"

    def test_curves_that_do_not_overlap_give_no_number(self):
        result = bd_rate(RATES, PSNR, RATES, [value + 10 for value in PSNR])
        assert result.value is None and result.overlap == 0.0
        assert result.reason == "the curves do not overlap in quality: anchor 30.1 to 38.2, test 40.1 to 48.2"

    @pytest.mark.parametrize("rates, quality, message", [
        (RATES[:3], PSNR[:3], f"has 3 points; BD needs at least {MIN_POINTS}"),
        (RATES, PSNR[:3], "one quality per rate"),
        ([0.0, *RATES[1:]], PSNR, "positive finite rates"),
        (RATES, [np.nan, *PSNR[1:]], "finite qualities"),
    ])
    def test_bad_curves_are_refused(self, rates, quality, message):
        with pytest.raises(ValueError, match=message):
            bd_rate(RATES, PSNR, rates, quality)


class TestOverSources:
    def test_mean_over_the_srcs_with_a_number_and_why_the_others_have_none(self):
        curves = {
            "alice": {"x265": (RATES, PSNR), "svtav1": ([0.8 * rate for rate in RATES], PSNR)},
            "bob": {"x265": (RATES, PSNR), "svtav1": ([0.6 * rate for rate in RATES], PSNR)},
            "carol": {"x265": (RATES, PSNR), "svtav1": (RATES[:3], PSNR[:3])},
            "dave": {"x265": (RATES, PSNR)},
            "erin": {"fomm": (RATES, PSNR)},
        }
        result = bd_over_sources(curves, anchor="x265", codec="svtav1")
        assert [source.source for source in result.per_source] == ["alice", "bob", "carol", "dave"]
        assert result.mean_rate == pytest.approx(-30.0, abs=1e-9) and result.n_rate == 2
        assert result.mean_quality > 0 and result.n_quality == 2
        assert result.notes == [
            "bob: the curves overlap over 61% of their log10 rate range; the number describes only that part",
            "carol: the test curve has 3 points; BD needs at least 4 rate points per curve: encode more rate points",
            "dave: no svtav1 points",
        ]


@pytest.fixture
def rd_database():
    """Three SRCs, x265 at four QPs, svtav1 at 0.8 x the x265 rate for the same PSNR (three points on carol)."""
    sources = [make_source(name) for name in ("alice", "bob", "carol")]
    for codec, scale in (("x265", 1.0), ("svtav1", 0.8)):
        for index, (qp, rate, psnr) in enumerate(zip((51, 43, 35, 27), RATES, PSNR)):
            hrc = make_hrc(codec, qp=qp)
            for source in sources:
                if source.name == "carol" and codec == "svtav1" and index == 3:
                    continue
                pvs = make_pvs(source, hrc, kbps=scale * rate * (1.5 if source.name == "bob" else 1.0))
                add_result(pvs, "psnr_rgb", psnr)
    return sources


@pytest.mark.django_db
class TestFromTheDatabase:
    def test_codec_bd_is_the_mean_of_per_src_bd_rates(self, rd_database):
        (result,) = codec_bd(metric="psnr_rgb", anchor="x265")
        assert result.codec == "svtav1"
        assert [source.rate.value if source.rate else None for source in result.per_source] == [
            pytest.approx(-20.0), pytest.approx(-20.0), None]
        assert result.mean_rate == pytest.approx(-20.0) and result.n_rate == 2
        assert result.notes[0].startswith("carol: the test curve has 3 points")

    def test_the_matrix_has_every_codec_against_every_other(self, rd_database):
        matrix = bd_matrix(metric="psnr_rgb")
        assert matrix.curves == ["svtav1", "x265"]
        (first, (none, against_x265)), (second, (against_svtav1, none_too)) = matrix.rows()
        assert (first, second) == ("svtav1", "x265") and none is None and none_too is None
        assert against_x265.mean_rate == pytest.approx(-20.0) and against_svtav1.mean_rate == pytest.approx(25.0)

    @pytest.mark.parametrize("kwargs, message", [
        ({"anchor": "vvc"}, r"no done PVS with PSNR \(RGB\) on curve vvc; curves with one: svtav1, x265"),
        ({"anchor": "x265", "codecs": ["fomm"]}, "no done PVS with PSNR .* on curve fomm"),
        ({"anchor": "x265", "sources": ["zoe"]}, "no SRC named zoe"),
        ({"anchor": "x265", "metric": "nope"}, "no metric named 'nope'"),
    ])
    def test_unknown_names_are_refused(self, rd_database, kwargs, message):
        with pytest.raises(ValueError, match=message):
            codec_bd(**{"metric": "psnr_rgb", **kwargs})


@pytest.mark.django_db
class TestDashboardMatrix:
    def test_cells_show_the_mean_bd_rate_the_valid_srcs_and_the_notes(self, client, rd_database):
        response = client.get(reverse("metrics:rd"), {"metric": "psnr_rgb"})
        assert response.status_code == 200
        html = response.content.decode()
        assert '<th class="codec">svtav1</th><th class="codec">x265</th>' in html
        assert "-20.0 % (2/3) *</td>" in html and "25.0 % (2/3) *</td>" in html
        assert 'title="carol: the test curve has 3 points; BD needs at least 4' in html

    def test_one_codec_has_nothing_to_compare(self, client, rd_database):
        html = client.get(reverse("metrics:rd"), {"metric": "ssim"}).content.decode()
        assert "Fewer than two curves have PVSs with SSIM" in html


@pytest.mark.django_db
class TestCommand:
    def test_prints_per_src_numbers_the_mean_and_the_notes(self, rd_database):
        out = StringIO()
        call_command("bd_rate", anchor="x265", metric="psnr_rgb", stdout=out)
        lines = out.getvalue().splitlines()
        assert "svtav1 against x265" in lines
        assert [line.split()[:3] for line in lines if line.startswith(("  alice", "  bob", "  carol"))] == [
            ["alice", "-20.00", "+0.85"], ["bob", "-20.00", "+0.85"], ["carol", "—", "—"]]
        (mean,) = [line.split() for line in lines if line.startswith("  mean")]
        assert mean == ["mean", "-20.00", "+0.85", "SRCs", "with", "a", "number:", "2", "and", "2", "of", "3"]
        assert any(line.startswith("  note: carol: the test curve has 3 points") for line in lines)

    def test_codecs_and_sources_narrow_the_report(self, rd_database):
        out = StringIO()
        call_command("bd_rate", anchor="svtav1", metric="psnr_rgb", codecs="x265", sources="alice", stdout=out)
        text = out.getvalue()
        assert "x265 against svtav1" in text and "  bob" not in text
        assert "SRCs with a number: 1 and 1 of 1" in text

    def test_an_unknown_anchor_is_a_command_error(self, rd_database):
        with pytest.raises(CommandError, match="no done PVS with PSNR .* on curve h266"):
            call_command("bd_rate", anchor="h266", metric="psnr_rgb")
