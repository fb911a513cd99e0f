"""manage.py benchmark_build: the table and its numbers, and one real build on a scratch stack."""
import re
import sqlite3

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from qa_platform.core.models import Pvs
from qa_platform.throughput import (
    RATE_POINTS,
    BenchmarkError,
    Run,
    build_span,
    cores_note,
    efficiency,
    parse_worker_counts,
    results_table,
    speedup,
)


class TestScalingNumbers:
    def test_twice_the_workers_and_half_again_the_throughput_is_75_percent_efficient(self):
        one, two = Run(workers=1, pvs=8, seconds=60.0), Run(workers=2, pvs=8, seconds=40.0)
        assert one.pvs_per_minute == 8.0 and two.pvs_per_minute == 12.0
        assert speedup(two, one) == pytest.approx(1.5)
        assert efficiency(two, one) == pytest.approx(0.75)

    def test_efficiency_is_relative_to_the_baseline_worker_count(self):
        two, four = Run(workers=2, pvs=8, seconds=40.0), Run(workers=4, pvs=8, seconds=25.0)
        assert speedup(four, two) == pytest.approx(1.6)
        assert efficiency(four, two) == pytest.approx(0.8)

    def test_no_gain_with_twice_the_workers_is_half_efficient(self):
        one, two = Run(workers=1, pvs=6, seconds=30.0), Run(workers=2, pvs=6, seconds=30.0)
        assert efficiency(two, one) == pytest.approx(0.5)


class TestResultsTable:
    def test_one_row_per_run_by_worker_count_against_the_fewest_workers(self):
        table = results_table([Run(workers=2, pvs=8, seconds=40.0), Run(workers=1, pvs=8, seconds=60.0)])
        header, rule, first, second = table.splitlines()
        assert header.split() == ["workers", "PVSs", "wall", "s", "PVSs/min", "speed-up", "efficiency"]
        assert set(rule) == {"-"}
        assert first.split() == ["1", "8", "60.0", "8.00", "1.00x", "100%"]
        assert second.split() == ["2", "8", "40.0", "12.00", "1.50x", "75%"]

    def test_no_run_is_an_error(self):
        with pytest.raises(ValueError, match="no measured build"):
            results_table([])


class TestWorkerCounts:
    def test_counts_are_sorted_and_unique(self):
        assert parse_worker_counts(" 4, 1,2,2") == [1, 2, 4]

    @pytest.mark.parametrize("text", ["", "0,1", "1,two", "1.5"])
    def test_a_count_that_is_not_a_whole_number_of_at_least_one_is_refused(self, text):
        with pytest.raises(ValueError, match="--workers"):
            parse_worker_counts(text)

    def test_counts_past_the_cores_are_named(self):
        assert "4, 8 workers is more than that" in cores_note([1, 2, 4, 8], cores=2)
        assert "more than that" not in cores_note([1, 2], cores=2)
        assert cores_note([1], cores=None).startswith("This machine has an unknown number of CPU cores.")


def _pvs_database(path, rows):
    with sqlite3.connect(path) as db:
        db.execute(f"create table {Pvs._meta.db_table} (id integer, status text, message text, "
                   "queued_at text, finished_at text)")
        db.executemany(f"insert into {Pvs._meta.db_table} values (?, ?, ?, ?, ?)", rows)
    return path


class TestBuildSpan:
    def test_from_the_first_pvs_queued_to_the_last_finished(self, tmp_path):
        database = _pvs_database(tmp_path / "db.sqlite3", [
            (1, "done", "", "2026-01-01 10:00:00.500000", "2026-01-01 10:00:20"),
            (2, "done", "", "2026-01-01 10:00:01", "2026-01-01 10:01:00.500000"),
        ])
        assert build_span(database) == {"pvs": 2, "seconds": 60.0}

    def test_a_pvs_not_done_fails_the_run_with_its_message(self, tmp_path):
        database = _pvs_database(tmp_path / "db.sqlite3", [
            (1, "done", "", "2026-01-01 10:00:00", "2026-01-01 10:00:20"),
            (2, "failed", "x265 crashed", "2026-01-01 10:00:00", "2026-01-01 10:00:30"),
        ])
        with pytest.raises(BenchmarkError, match="PVS 2: failed x265 crashed"):
            build_span(database)


@pytest.mark.parametrize("option", [["--workers", "0"], ["--srcs", "0"], ["--frames", "0"], ["--timeout", "0"]])
def test_a_size_that_cannot_be_built_is_refused_before_anything_starts(option):
    with pytest.raises(CommandError, match="--workers|at least one SRC|timeout must be positive"):
        call_command("benchmark_build", *option)


@pytest.mark.integration
def test_the_tiniest_build_with_one_and_two_workers_counts_every_pvs_it_built(faces_dir, capsys):
    call_command("benchmark_build", "--workers", "1,2", "--srcs", "1", "--frames", "5", "--metrics", "psnr_y")
    out = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in out if re.match(r"\s+\d+\s+\d+\s", line)]
    expected_pvs = 1 * sum(map(len, RATE_POINTS.values()))
    assert [(row[0], row[1]) for row in rows] == [("1", str(expected_pvs)), ("2", str(expected_pvs))]
    assert rows[0][4:] == ["1.00x", "100%"]
    assert all(float(row[2]) > 0 for row in rows)
    assert out[-1].startswith("This machine has ")
