"""No test, bench or command reads a path outside the repository.

A clone with nothing beside it must pass `make test`: a file that reaches for a sample
folder beside the repository works only in the workspace it was written in, and a test that
quietly skips when the file is missing hides that. The checker below looks for the
three ways such a reference was written here: a known outside folder named in text,
a relative `..` path that climbs above the repository from the file's own folder,
and a `Path(__file__)` climbed past the repository root.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What the README's commands, CI and the tests read or run.
SCANNED = ["src", "tests", "bench", "tools", ".ci", "Makefile", "README.md", "pyproject.toml"]
TEXT_SUFFIXES = {"", ".py", ".md", ".json", ".toml", ".cfg", ".ini", ".sh", ".yml", ".yaml"}
SKIPPED_DIRS = {"__pycache__", "data", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
# Folders of the workspace this repository was first built in (never inside a clone).
OUTSIDE_NAMES = re.compile(r"\.\./shared\b|/work/shared\b|/work/main\b")
# A path-like token with a `..` segment: `../x`, `a/../../b`, `$(dirname "$0")/..`.
DOTDOT_PATH = re.compile(r"(?<![\w.])(?:[\w.-]+/)*\.\.(?![\w.-])(?:/[\w.-]*)*")
# `Path(__file__)` climbed with `.parent` / `.parents[n]`, optionally resolved first.
FILE_CLIMB = re.compile(
    r"Path\(__file__\)(?:\.resolve\(\)|\.absolute\(\))?((?:\.parent\b|\.parents\[\d+\])+)"
)


def outside_references(relative: PurePosixPath, text: str) -> list[str]:
    """The references in `text` (the file at `relative` from the repository root) that
    point outside the repository; each is reported as `line N: fragment`."""
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for fragment in _outside_on_line(relative, line):
            found.append(f"line {number}: {fragment}")
    return found


def _outside_on_line(relative: PurePosixPath, line: str) -> list[str]:
    hits = [match.group(0) for match in OUTSIDE_NAMES.finditer(line)]
    hits += [
        match.group(0)
        for match in DOTDOT_PATH.finditer(line)
        if _climbs_out(relative.parent, match.group(0))
    ]
    hits += [
        match.group(0)
        for match in FILE_CLIMB.finditer(line)
        if _levels(match.group(1)) > len(relative.parts)
    ]
    return hits


def _climbs_out(folder: PurePosixPath, path: str) -> bool:
    """Whether `path`, read from `folder` (relative to the root), leaves the root."""
    depth = len(folder.parts)
    for part in path.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _levels(climb: str) -> int:
    """How many folders `.parent` / `.parents[n]` steps go up from a file."""
    steps = re.findall(r"\.parent\b|\.parents\[(\d+)\]", climb)
    return sum(int(index) + 1 if index else 1 for index in steps)


def _scanned_files() -> list[Path]:
    files: list[Path] = []
    for name in SCANNED:
        top = ROOT / name
        candidates = [top] if top.is_file() else sorted(top.rglob("*"))
        files += [
            path
            for path in candidates
            if path.is_file()
            and path.suffix in TEXT_SUFFIXES
            and not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts[:-1])
        ]
    return files


def test_repository_files_refer_to_no_path_outside_the_repository() -> None:
    files = _scanned_files()
    # The scan must see the files it guards, or it would pass by reading nothing.
    names = {path.relative_to(ROOT).as_posix() for path in files}
    assert {"Makefile", "README.md", ".ci/run", "bench/pipeline.py"} <= names
    assert "tests/unit/pipeline/test_pipeline_real_sample.py" in names
    offenders = {
        relative: hits
        for path in files
        if path != Path(__file__).resolve()
        and (relative := path.relative_to(ROOT).as_posix())
        and (hits := outside_references(PurePosixPath(relative), path.read_text()))
    }
    assert offenders == {}


def test_aws_sample_ships_inside_the_repository() -> None:
    sample = ROOT / "tests" / "data" / "aws-sample"
    assert (sample / "testfile.csv").stat().st_size == 717337
    assert (sample / "testfile_financial_data.csv").stat().st_size == 569591
    assert "MIT-0" in (sample / "README.md").read_text()


@pytest.mark.parametrize(
    ("relative", "line"),
    [
        # the planted lines are assembled, so this file itself names no outside path
        (
            "tests/unit/pipeline/t.py",
            "SAMPLE = Path(__file__).resolve().parents[3]" + '.parent / "s"',
        ),
        ("tests/workflows/t.py", 'X = Path(__file__).resolve().parents[3] / "shared"'),
        ("tests/workflows/t.py", "X = Path(__file__).parent.parent.parent.parent"),
        ("bench/b.py", 'DATA = "../../data/x.csv"'),
        ("Makefile", "\tcp ../elsewhere/file.csv ."),
        ("tests/t.py", 'open("/work/' + 'shared/sample/testfile.csv")'),
        ("src/mrbatch/x.py", 'base / "../' + 'shared" / "sample"'),
    ],
)
def test_outside_reference_is_found_when_present(relative: str, line: str) -> None:
    assert outside_references(PurePosixPath(relative), line) != []


@pytest.mark.parametrize(
    ("relative", "line"),
    [
        ("tests/unit/pipeline/t.py", 'SAMPLE = Path(__file__).resolve().parents[2] / "data"'),
        ("tests/unit/pipeline/t.py", "X = Path(__file__).resolve().parents[3]"),
        (".ci/run", 'cd "$(dirname "$0")/.."'),
        ("tests/contract/t.py", '"a/../../b",  # an object key, read from tests/contract'),
        ("src/mrbatch/storage/keys.py", 'validate_key("../etc/passwd")'),
        ("tests/t.py", "if part == '..':"),
        ("README.md", "wait ... then a.b..c and `...`"),
    ],
)
def test_inside_reference_is_not_reported(relative: str, line: str) -> None:
    assert outside_references(PurePosixPath(relative), line) == []
