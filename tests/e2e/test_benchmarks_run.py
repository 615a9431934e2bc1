"""Every benchmark still runs, at a tiny size, and ends with the line other tools read.

Why: the benchmarks drive the library the way its users do, outside the test suite;
a change to a domain value (a field added to a token) once broke a generator
unnoticed for several releases. Nothing here measures anything: the figures come
from full-size runs (``docs/performance.md``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"[0-9][0-9,.]*"

RUNS = {
    "commands": (
        ["--cards", "20", "--rounds", "1"],
        rf"healthcard {NUMBER} ev/s, bare {NUMBER} ev/s, ratio {NUMBER}, cpu_ratio {NUMBER}",
    ),
    "long_lived": (
        ["--uses", "120", "--appointments", "200", "--repeat", "2"],
        rf"card 120 uses cold {NUMBER} ms, session 200 appointments warm get {NUMBER} ms",
    ),
    "concurrent": (
        ["--backend", "sqlite", "--threads", "4", "--cards", "24", "--sessions", "2"],
        rf"concurrent sqlite {NUMBER} cmd/s, baseline {NUMBER} cmd/s, ratio {NUMBER}, "
        rf"p99 {NUMBER} ms",
    ),
    "qr": (
        ["--tokens", "20", "--rounds", "2"],
        rf"verify {NUMBER}/s, raw {NUMBER}/s, ratio {NUMBER}",
    ),
    "rebuild": (
        ["--events", "3000", "--seed", "3"],
        rf"rebuild {NUMBER} ev/s, baseline {NUMBER} ev/s, ratio {NUMBER}",
    ),
}

POSTGRES_RUNS = {
    "concurrent": (
        ["--backend", "postgres", "--threads", "4", "--cards", "24", "--sessions", "2"],
        rf"concurrent postgres {NUMBER} cmd/s, baseline {NUMBER} cmd/s, ratio {NUMBER}, "
        rf"p99 {NUMBER} ms",
    ),
    "rush": (
        ["--processes", "2", "--threads", "3", "--cards", "30", "--sessions", "2", "--places", "4"],
        rf"rush booked 8/8, conflicts 0, p99 {NUMBER} ms, {NUMBER} bookings/s, "
        rf"baseline {NUMBER}/s, ratio {NUMBER}",
    ),
}


def last_line(script: str, args: list[str], tmp_path: Path) -> str:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(  # noqa: S603 (the project's own scripts, fixed arguments)
        [sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("script", sorted(RUNS))
def test_a_benchmark_runs_and_ends_with_its_line(script: str, tmp_path: Path) -> None:
    args, line = RUNS[script]
    assert re.fullmatch(line, last_line(script, args, tmp_path))


@pytest.mark.parametrize("script", sorted(POSTGRES_RUNS))
def test_a_postgres_benchmark_runs_and_ends_with_its_line(
    script: str, tmp_path: Path, pg_server: object
) -> None:
    args, line = POSTGRES_RUNS[script]
    assert re.fullmatch(line, last_line(script, args, tmp_path))
