"""No tracked file points outside the repository: not at the team's ../shared reference folder, not at an
absolute path on someone's machine. Data the project needs is copied in, with its source columns."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# ../shared (any depth), and absolute paths under the usual home/work roots (Unix and Windows). /tmp is scratch
# space that commands write to, not a reference to a file the project relies on, so it is allowed.
OUTSIDE = re.compile(r"(?:\.\./)+shared\b|(?<![\w.~$}/-])/(?:work|home|Users|root|mnt|srv|data)/[\w.-]+"
                     r"|\b[A-Za-z]:\\\\?(?:Users|work)\\")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".txt", ".cfg", ".csv", ".json", ".html", ".ini", ""}


def outside_references(text: str) -> list[str]:
    return [m.group(0) for m in OUTSIDE.finditer(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("Prices come from /work/shared/reference/pricing.md", ["/work/shared"]),
    ("see ../shared/seeds/guide.txt", ["../shared"]),
    ("see ../../shared", ["../../shared"]),
    ("C:\\Users\\me\\scenario.yaml", ["C:\\Users\\"]),
    ("/home/alice/models/config.json", ["/home/alice"]),
    ("plan solve scenarios/chatbot.yaml --out /tmp/plan.json", []),
    ("planner/scenario/io.py and https://example.com/work/x", []),
    ("VENV=${TMPDIR:-/tmp}/x", []),
])
def test_the_pattern(text, expected):
    assert outside_references(text) == expected


# Third-party data copied verbatim with its source columns (the licence asks for them unchanged): the upstream
# ``silicon_data_source`` column names the measuring host's own files, which are provenance, not references.
VERBATIM_THIRD_PARTY = {"bench/data/silicon-dev.csv"}


def test_no_tracked_file_points_outside_the_repository():
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    here = Path(__file__).relative_to(ROOT).as_posix()
    found = []
    for rel in listed:
        path = ROOT / rel
        if rel == here or rel in VERBATIM_THIRD_PARTY or path.suffix not in TEXT_SUFFIXES or not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            found += [f"{rel}:{n}: {ref}" for ref in outside_references(line)]
    assert not found, "paths outside the repository:\n" + "\n".join(found)
