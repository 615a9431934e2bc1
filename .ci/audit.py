"""Audit the installed dependencies with pip-audit, and say plainly what was checked.

CI fails on a known vulnerability that has a fixed release (raise the floor in
pyproject.toml), reports one without a fix, and only warns when the vulnerability
service cannot be reached: an unreachable service says nothing about the dependencies,
and a build must not break because a third-party web service is down. pip-audit alone
cannot make that distinction (it exits 1 both for a finding and for a network error,
and reports "no known vulnerabilities" when every package was skipped), so this script
reads its JSON report.

Usage:
    python .ci/audit.py [pip-audit options...]   run pip-audit on this environment
    python .ci/audit.py --report FILE            judge a report pip-audit already wrote

Exit status: 0 clean or not checkable (with a warning), 1 a fixable vulnerability or
pip-audit failing for another reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# Signs, in pip-audit's error output, that the service was not reached at all.
UNREACHABLE = (
    "ConnectionError",
    "NameResolutionError",
    "Max retries exceeded",
    "Timeout",
    "timed out",
    "ServiceError",
    "ConnectionRefused",
)
# Skip reasons that mean the service did not answer for that package (the package was
# not judged), as opposed to a package pip-audit chose not to audit.
NOT_ANSWERED = ("could not be audited", "Connection", "timed out")


def judge(report: dict[str, Any]) -> int:
    """Print the verdict on a pip-audit JSON report; return the exit status."""
    dependencies = report.get("dependencies", [])
    fixable: list[str] = []
    unfixed: list[str] = []
    unanswered: list[str] = []
    skipped = 0
    for dependency in dependencies:
        name, version = dependency.get("name", "?"), dependency.get("version", "?")
        reason = dependency.get("skip_reason")
        if reason is not None:
            skipped += 1
            if any(sign in reason for sign in NOT_ANSWERED):
                unanswered.append(name)
            continue
        for vuln in dependency.get("vulns", []):
            fixes = vuln.get("fix_versions") or []
            line = f"{name} {version}: {vuln.get('id', '?')}"
            if fixes:
                fixable.append(f"{line} (fixed in {', '.join(fixes)})")
            else:
                unfixed.append(f"{line} (no fixed release yet)")
    audited = len(dependencies) - skipped
    for line in unfixed:
        print(f"ci: pip-audit: known vulnerability without a fix: {line}")
    for line in fixable:
        print(f"ci: pip-audit: VULNERABLE: {line}")
    if unanswered:
        print(
            f"ci: pip-audit: warning: the vulnerability service gave no answer for "
            f"{len(unanswered)} of {len(dependencies)} dependencies "
            f"({', '.join(sorted(unanswered)[:8])}{', ...' if len(unanswered) > 8 else ''});"
            " they were not audited"
        )
    print(
        f"ci: pip-audit: {audited} dependencies audited, {len(fixable)} fixable and "
        f"{len(unfixed)} unfixed vulnerabilities"
    )
    return 1 if fixable else 0


def run(arguments: list[str]) -> int:
    """Run pip-audit on this environment and judge what it found."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "audit.json"
        command = [
            sys.executable,
            "-m",
            "pip_audit",
            "--skip-editable",
            "--progress-spinner",
            "off",
            "--desc",
            "off",
            "--format",
            "json",
            "--output",
            str(output),
            *arguments,
        ]
        # Our own interpreter running pip-audit with CI's own arguments.
        completed = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if output.exists():
            return judge(json.loads(output.read_text(encoding="utf-8")))
    errors = completed.stderr.strip().splitlines()
    last = errors[-1] if errors else f"exit status {completed.returncode}"
    if any(sign in completed.stderr for sign in UNREACHABLE):
        print(f"ci: pip-audit: warning: vulnerability service unreachable, nothing audited: {last}")
        return 0
    print(completed.stderr, file=sys.stderr)
    print(f"ci: pip-audit failed: {last}")
    return 1


def main(arguments: list[str]) -> int:
    if arguments[:1] == ["--report"]:
        if len(arguments) != 2:
            print("usage: audit.py --report FILE", file=sys.stderr)
            return 1
        return judge(json.loads(Path(arguments[1]).read_text(encoding="utf-8")))
    return run(arguments)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
