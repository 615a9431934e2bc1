"""Dependency floors exclude the published advisories, and CI audits what it installs.

The floors are the contract an embedding app resolves against: a floor below a fixed
advisory lets a resolver pick the vulnerable release. ``.ci/audit.py`` runs pip-audit
on the installed set; these tests drive it for real (pip-audit against a service that
refuses connections) and on reports in pip-audit's own JSON format.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
AUDIT = ROOT / ".ci" / "audit.py"

# (package, last vulnerable release, first fixed release) of advisories the floors exclude.
ADVISORIES = [
    ("cbor2", "5.8.0", "5.9.0"),
    ("pillow", "10.1.0", "10.2.0"),
]


def requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared.extend(extra)
    return {req.name.lower(): req for req in map(Requirement, declared) if req.name != "healthcard"}


@pytest.mark.parametrize(("name", "vulnerable", "fixed"), ADVISORIES)
def test_floors_exclude_vulnerable_releases(name: str, vulnerable: str, fixed: str) -> None:
    specifier = requirements()[name].specifier
    assert not specifier.contains(vulnerable), f"{name} {specifier} admits {vulnerable}"
    assert specifier.contains(fixed), f"{name} {specifier} refuses the fixed {fixed}"


def test_pip_audit_is_a_dev_dependency() -> None:
    assert "pip-audit" in requirements()
    assert "python .ci/audit.py" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def audit(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, str(AUDIT), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def report_file(tmp_path: Path, dependencies: list[dict[str, object]]) -> str:
    path = tmp_path / "audit.json"
    path.write_text(json.dumps({"dependencies": dependencies, "fixes": []}), encoding="utf-8")
    return str(path)


def test_a_fixable_vulnerability_fails_naming_the_package_and_fix(tmp_path: Path) -> None:
    report = report_file(
        tmp_path,
        [
            {"name": "segno", "version": "1.6.1", "vulns": []},
            {
                "name": "cbor2",
                "version": "5.8.0",
                "vulns": [{"id": "GHSA-xxxx", "fix_versions": ["5.9.0"], "aliases": []}],
            },
        ],
    )
    result = audit("--report", report)
    assert result.returncode == 1
    assert "VULNERABLE: cbor2 5.8.0: GHSA-xxxx (fixed in 5.9.0)" in result.stdout


def test_a_vulnerability_without_a_fix_is_reported_but_does_not_fail(tmp_path: Path) -> None:
    report = report_file(
        tmp_path,
        [
            {
                "name": "pyarrow",
                "version": "15.0.0",
                "vulns": [{"id": "PYSEC-1", "fix_versions": []}],
            }
        ],
    )
    result = audit("--report", report)
    assert result.returncode == 0
    assert "without a fix: pyarrow 15.0.0: PYSEC-1" in result.stdout


def test_packages_the_service_did_not_answer_for_are_a_warning(tmp_path: Path) -> None:
    report = report_file(
        tmp_path,
        [
            {"name": "segno", "version": "1.6.1", "vulns": []},
            {
                "name": "cbor2",
                "skip_reason": "Dependency not found on PyPI and could not be audited: cbor2",
            },
        ],
    )
    result = audit("--report", report)
    assert result.returncode == 0
    assert "warning: the vulnerability service gave no answer for 1 of 2" in result.stdout
    assert "1 dependencies audited" in result.stdout


def test_an_unreachable_service_is_a_warning_not_a_failure() -> None:
    """Real pip-audit on this environment, against an OSV address that refuses."""
    result = audit("--vulnerability-service", "osv", "--osv-url", "http://127.0.0.1:9/v1/query")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: vulnerability service unreachable, nothing audited" in result.stdout


def test_pip_audit_failing_for_another_reason_fails() -> None:
    result = audit("--requirement", "/nonexistent/requirements.txt")
    assert result.returncode == 1
    assert "pip-audit failed" in result.stdout
