"""The rate-distortion summary: a compact table that fits a terminal and a CSV file with every metric."""
import csv
from io import StringIO

import pytest
from django.core.management import call_command

from metrics.models import MetricResult, MetricStatus
from metrics.registry import all_metrics
from metrics.summary import COMPACT_METRICS, TABLE_WIDTH, metric_column, rd_summary_csv, rd_summary_text
from metrics.tests.test_views import add_result, make_hrc, make_pvs, make_source

pytestmark = pytest.mark.django_db

DISTS_REASON = "DISTS weights missing; run manage.py fetch_weights"


@pytest.fixture
def database():
    """Two SRCs x two HRCs (x265 and a generative codec with a long label); DISTS unavailable everywhere."""
    a, b = make_source("alice"), make_source("bob")
    x265 = make_hrc("x265", qp=37)
    hybrid = make_hrc("hybrid-landmark-warp", q=6.0, key_qp=47, key_period=25, refs="bidir", aux_qp=51, aux_scale=4)
    pvs = {"ax": make_pvs(a, x265, kbps=40.0), "bx": make_pvs(b, x265, kbps=60.0),
           "ah": make_pvs(a, hybrid, kbps=5.0), "bh": make_pvs(b, hybrid, kbps=7.0)}
    for key, psnr_y, vmaf, id_sim in [("ax", 36.0, 80.0, 0.95), ("bx", 34.0, 70.0, 0.93),
                                      ("ah", 27.0, 40.0, 0.81), ("bh", 25.0, 30.0, 0.79)]:
        add_result(pvs[key], "psnr_y", psnr_y)
        add_result(pvs[key], "vmaf", vmaf)
        add_result(pvs[key], "id_sim", id_sim)
        add_result(pvs[key], "dists", status=MetricStatus.UNAVAILABLE, reason=DISTS_REASON)
    return pvs


class TestCompactTable:
    def test_one_row_per_hrc_with_units_fits_a_terminal(self, database):
        lines = rd_summary_text().splitlines()
        assert max(len(line) for line in lines) <= TABLE_WIDTH, "\n".join(lines)
        columns = ["codec", "rate point", "PVSs", "kbit/s", "psnr_y dB", "ms_ssim", "vmaf", "dists", "id_sim", "akd"]
        assert [metric_column(name) for name in COMPACT_METRICS] == columns[4:]
        positions = [lines[0].find(column) for column in columns]  # the header names every column, in order
        assert positions == sorted(positions) and positions[0] == 0, lines[0]
        generative, x265, blank = lines[1:4]  # one block; ordered by codec, then kbit/s
        assert generative.startswith("hybrid-landmark-warp  q=6.0 key_qp=47") and "…" in generative
        assert x265.split() == ["x265", "qp=37", "2", "50.0", "35", "n/a", "75", "n/a", "0.94", "n/a"]
        assert blank == ""

    def test_says_which_way_is_better_and_why_a_metric_is_missing(self, database):
        text = rd_summary_text()
        assert "Higher is better: psnr_y, ms_ssim, vmaf, id_sim; lower is better: dists, akd." in text
        assert f"dists n/a: unavailable: {DISTS_REASON}" in text

    def test_every_metric_wraps_into_blocks_that_fit(self, database):
        lines = rd_summary_text(tuple(all_metrics())).splitlines()
        assert max(len(line) for line in lines) <= TABLE_WIDTH
        assert all(metric_column(name).split()[0] in "\n".join(lines) for name in all_metrics())


class TestCsv:
    def test_every_metric_of_every_hrc_and_pvs_traceable_to_its_result(self, database, tmp_path):
        path = rd_summary_csv(tmp_path / "exports" / "summary.csv")
        with open(path, newline="") as file:
            rows = list(csv.DictReader(file))
        assert list(rows[0]) == ["codec", "rate point", "src", "pvs_id", "PVSs", "kbit/s"] + [
            metric_column(name) for name in all_metrics()]
        hrc_rows = [row for row in rows if not row["pvs_id"]]
        assert [(row["codec"], row["PVSs"], float(row["kbit/s"])) for row in hrc_rows] == [
            ("hybrid-landmark-warp", "2", 6.0), ("x265", "2", 50.0)]
        assert float(hrc_rows[1]["psnr_y dB"]) == 35.0 and hrc_rows[1]["dists"] == ""
        pvs_row = next(row for row in rows if row["pvs_id"] == str(database["bx"].pk))
        stored = MetricResult.objects.get(pvs=database["bx"], metric="psnr_y")
        assert (pvs_row["src"], float(pvs_row["psnr_y dB"])) == ("bob", stored.value)
        assert len(rows) == 2 + 4 and not list(tmp_path.joinpath("exports").glob(".*"))  # no temporary file left


class TestCommand:
    def test_prints_the_compact_table_and_writes_the_csv(self, database, tmp_path):
        out = StringIO()
        call_command("rd_summary", "--csv", str(tmp_path / "summary.csv"), stdout=out)
        lines = out.getvalue().splitlines()
        assert lines[0].split()[0] == "codec" and "lpips_alex" not in out.getvalue()
        assert lines[-1] == f"Every metric, every HRC and PVS: {tmp_path / 'summary.csv'}"
        assert (tmp_path / "summary.csv").is_file()

    def test_all_metrics_prints_every_metric(self, database):
        out = StringIO()
        call_command("rd_summary", "--all-metrics", stdout=out)
        assert "lpips_alex" in out.getvalue() and "mouth_r" in out.getvalue()
