"""Mutation testing of the modules that hold mrbatch's invariants (`make mutation`).

mutmut plants one small bug at a time (a `<` turned into `<=`, a `True` into `False`, a
string changed) and runs tests against it; a mutant that no test notices "survived" and
marks behaviour nothing pins. Running the whole suite per mutant would take hours, so
each module is run with only the tests that exercise it in process (`MODULES`): mutmut
switches mutants inside the test process, so tests that start child processes see the
unmutated code and are left out of the mapping.

Every module runs in a throw-away copy of the repository (mutmut writes a `mutants/`
tree beside the sources it mutates), so the checkout is never touched and several people
can keep working in it meanwhile. The summary table and every survivor's diff are printed
at the end; the exit status is 1 when any mutant survived.

Usage:
    python tools/mutation.py                      # every module in MODULES
    python tools/mutation.py src/mrbatch/routing/local.py --max-children 1
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import string
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module -> the tests that exercise it in process (their failures kill its mutants).
MODULES: dict[str, list[str]] = {
    "src/mrbatch/handlers/fencing.py": ["tests/unit/handlers/test_fencing.py"],
    "src/mrbatch/handlers/naming.py": [
        "tests/unit/handlers/test_naming.py",
        "tests/unit/handlers/test_trigger.py",
    ],
    "src/mrbatch/handlers/batch_state.py": [
        "tests/unit/handlers/test_batch_state.py",
        "tests/unit/handlers/test_trigger.py",
    ],
    "src/mrbatch/handlers/trigger.py": [
        "tests/unit/handlers/test_trigger.py",
        "tests/unit/runtime/test_admission.py",
    ],
    "src/mrbatch/runtime/replication/objects.py": ["tests/unit/runtime/test_replication.py"],
    "src/mrbatch/runtime/services/replicator.py": [
        "tests/unit/runtime/test_table_replication.py",
        "tests/unit/runtime/test_replication.py",
        "tests/unit/runtime/test_replicator_serve.py",
    ],
    "src/mrbatch/accesspoint/sigv4.py": [
        "tests/unit/gateway/test_sigv4.py",
        "tests/unit/gateway/test_presign.py",
        "tests/unit/gateway/test_chunked.py",
    ],
    "src/mrbatch/accesspoint/presign.py": ["tests/unit/gateway/test_presign.py"],
    "src/mrbatch/notify/smtp.py": [
        "tests/contract/test_contract_notifier.py",
        "tests/unit/runtime/test_mail_auth.py",
        "tests/unit/runtime/test_mail_ledger.py",
    ],
    "src/mrbatch/runtime/operations/reconcile.py": ["tests/unit/runtime/test_reconcile.py"],
    "src/mrbatch/runtime/operations/takeover.py": ["tests/unit/runtime/test_takeover.py"],
    "src/mrbatch/routing/local.py": [
        "tests/contract/test_contract_routing.py",
        "tests/contract/test_contract_routing_errors.py",
    ],
    "src/mrbatch/routing/rules.py": [
        "tests/contract/test_contract_routing.py",
        "tests/contract/test_contract_routing_errors.py",
    ],
}
# Copied into each throw-away repository: what the tests import and read.
COPIED = ["src", "tests", "pyproject.toml"]
IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".mrbatch", ".pytest_cache", ".mypy_cache", "*.egg-info"
)
RESULT_LINE = re.compile(r"^\s*(\S+): (.+)$")
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|PRAGMA|BEGIN)\b", re.IGNORECASE)
EQUIVALENT = "equivalent"


@dataclass
class ModuleResult:
    """The verdict on every mutant of one module."""

    module: str
    statuses: dict[str, str] = field(default_factory=dict)
    diffs: dict[str, str] = field(default_factory=dict)
    error: str = ""

    def count(self, status: str) -> int:
        return sum(1 for value in self.statuses.values() if value == status)

    @property
    def survivors(self) -> list[str]:
        """Mutants no test noticed (and mutants that could not be judged)."""
        return [name for name, value in self.statuses.items() if value not in DECIDED]

    @property
    def timeouts(self) -> list[str]:
        """Mutants caught by making the tests hang."""
        return [name for name, value in self.statuses.items() if value == TIMEOUT]


# A timeout is a mutant the tests caught by hanging (an endless retry loop, say). mutmut
# stops a mutant's tests after 15 times the clean run's duration plus 15 s of wall-clock
# time (twice that in CPU time), so load on the machine alone hardly turns a survivor into
# a timeout; the report still prints each timeout's diff, to be checked by eye.
TIMEOUT = "timeout"
TYPE_ERROR = "caught by type check"
NOT_CHECKED = "not checked"
DECIDED = {"killed", TIMEOUT, TYPE_ERROR, EQUIVALENT}


def nothing_checked(statuses: dict[str, str]) -> bool:
    """Whether mutmut judged no mutant at all: its clean run or its set-up failed (a test
    that fails without any mutant, say), and every mutant is listed as "not checked". That
    is a failed run to report with mutmut's output, not hundreds of survivors."""
    return all(status == NOT_CHECKED for status in statuses.values())


def is_sql_case_change(diff: str) -> bool:
    """Whether the mutant only changed the letter case of an SQL statement.

    SQLite reads keywords and table names in any case, so such a mutant behaves exactly
    like the original: no test can kill it, and counting it as a survivor would hide the
    survivors that matter.
    """
    removed, added = _changed_lines(diff)
    return (
        bool(removed)
        and len(removed) == len(added)
        and all(
            a != b and a.lower() == b.lower() and SQL.search(a)
            for a, b in zip(removed, added, strict=True)
        )
    )


# urllib.parse.quote never encodes these, whatever `safe` says (RFC 3986's unreserved set).
ALWAYS_SAFE = frozenset(string.ascii_letters + string.digits + "_.-~")
QUOTE_CALL = re.compile(r"\bquote\(([^()]*)\)")
STRING = re.compile(r"""(["'])(.*?)\1""")


def _effective_safe(match: re.Match[str]) -> str:
    """A string given as `safe`, reduced to the characters quote would otherwise encode."""
    return repr("".join(sorted(set(match.group(2)) - ALWAYS_SAFE)))


def _canonical_quote(match: re.Match[str]) -> str:
    """`quote(...)` with every string in its `safe` argument (a literal, or the branches of
    a conditional) reduced to what it changes; an absent `safe` is quote's default, "/"."""
    args = [arg.strip() for arg in match.group(1).split(",") if arg.strip()]
    safe = [arg for arg in args if arg.startswith("safe")] or ['safe="/"']
    rest = [arg for arg in args if not arg.startswith("safe")]
    return f"quote({', '.join(rest)}, {STRING.sub(_effective_safe, safe[0])})"


def is_quote_safe_change(diff: str) -> bool:
    """Whether the mutant only changed the `safe` argument of `urllib.parse.quote` in a
    way quote cannot see: adding or removing letters, digits or `_.-~` (never encoded), or
    dropping `safe="/"` (the default). `quote(key, safe="XX/~XX")` encodes exactly as
    `quote(key, safe="/~")`, and as `quote(key)`."""
    removed, added = _changed_lines(diff)
    return (
        bool(removed)
        and len(removed) == len(added)
        and all(
            a != b
            and "quote(" in a
            and QUOTE_CALL.sub(_canonical_quote, a) == QUOTE_CALL.sub(_canonical_quote, b)
            for a, b in zip(removed, added, strict=True)
        )
    )


def _changed_lines(diff: str) -> tuple[list[str], list[str]]:
    lines = diff.splitlines()
    removed = [line[1:] for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    return removed, added


MIME_MESSAGE = re.compile(r"^\s*(\w+)\s*=\s*EmailMessage\(", re.MULTILINE)


def is_mime_header_case_change(diff: str, source: str) -> bool:
    """Whether the mutant only changed the letter case of header names subscripted on an
    `email.message.EmailMessage` built in `source` (`mime["From"]` into `mime["FROM"]`).
    Header field names are case-insensitive (RFC 5322, 1.2.2): the message reads them so,
    and so does every mail reader, so no test can tell the two apart."""
    names = set(MIME_MESSAGE.findall(source))
    if not names:
        return False
    header = re.compile(rf"""\b({"|".join(sorted(names))})\[(["'])([\w-]+)\2\]""")

    def fold(line: str) -> str:
        return header.sub(
            lambda m: f"{m.group(1)}[{m.group(2)}{m.group(3).lower()}{m.group(2)}]", line
        )

    removed, added = _changed_lines(diff)
    return (
        bool(removed)
        and len(removed) == len(added)
        and all(a != b and fold(a) == fold(b) for a, b in zip(removed, added, strict=True))
    )


CODEC = re.compile(r"""\.((?:en|de)code)\((["'])([\w-]+)\2""")


def is_codec_name_case_change(diff: str) -> bool:
    """Whether the mutant only changed the letter case of a codec name in `.encode(...)` or
    `.decode(...)` ("utf-8" into "UTF-8"): Python looks codecs up without regard to case."""

    def fold(line: str) -> str:
        return CODEC.sub(lambda m: f".{m.group(1)}({m.group(3).lower()!r}", line)

    removed, added = _changed_lines(diff)
    return (
        bool(removed)
        and len(removed) == len(added)
        and all(a != b and fold(a) == fold(b) for a, b in zip(removed, added, strict=True))
    )


def is_equivalent(diff: str, source: str = "") -> bool:
    """Whether a rule above proves the mutant behaves exactly like the original (`source`:
    the mutated module's text, for rules that look at how a name is bound)."""
    return (
        is_sql_case_change(diff)
        or is_quote_safe_change(diff)
        or is_codec_name_case_change(diff)
        or is_mime_header_case_change(diff, source)
    )


def mutmut_config(module: str, tests: list[str]) -> str:
    """The `[tool.mutmut]` section for one module (TOML strings are JSON strings here)."""
    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f"only_mutate = [{json.dumps(module)}]\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
        # Workers fork from a server that has run no test: polars' thread pool, started by
        # a test in mutmut's own process, would deadlock every forked child.
        'process_isolation = "forkserver"\n'
        # A mutant mypy --strict rejects is never committed (`make typecheck` gates every
        # change): mutmut reports it as caught by type check and runs no test for it. The
        # generated trampolines carry `type: ignore` comments strict mode would flag.
        f"type_check_command = {json.dumps(type_check_command(module))}\n"
    )


def type_check_command(module: str) -> list[str]:
    """mypy over the mutated module, as mutmut reads it (JSON, one error per line)."""
    mypy = [sys.executable, "-m", "mypy", module, "--output", "json"]
    return [*mypy, "--no-warn-unused-ignores"]


def prepare(workdir: Path, module: str, tests: list[str]) -> None:
    """A copy of the repository in `workdir`, configured to mutate `module` only."""
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, workdir / name, ignore=IGNORED)
        else:
            shutil.copy2(source, workdir / name)
    pyproject = workdir / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + mutmut_config(module, tests))


def mutmut(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mutmut", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )


def run_module(module: str, tests: list[str], max_children: int) -> ModuleResult:
    """Mutate `module`, run `tests` against each mutant, collect verdicts and survivors."""
    result = ModuleResult(module)
    with tempfile.TemporaryDirectory(prefix="mrbatch-mutation-") as tmp:
        workdir = Path(tmp)
        prepare(workdir, module, tests)
        run = mutmut(workdir, "run", "--max-children", str(max_children))
        listing = mutmut(workdir, "results", "--all", "true")
        for line in listing.stdout.splitlines():
            if match := RESULT_LINE.match(line):
                result.statuses[match.group(1)] = match.group(2).strip()
        if nothing_checked(result.statuses):
            result.error = (run.stdout + run.stderr)[-3000:]
            return result
        for name in [*result.survivors, *result.timeouts]:
            result.diffs[name] = mutmut(workdir, "show", name).stdout
        source = (ROOT / module).read_text()
        for name in result.survivors:
            if is_equivalent(result.diffs[name], source):
                result.statuses[name] = EQUIVALENT
    return result


def table(results: list[ModuleResult]) -> str:
    """The summary as a Markdown table: mutants, killed, timeout, caught by type check,
    equivalent, survived, and any other verdict (no tests, suspicious), which needs a look
    as much as a survivor."""
    rows = [
        "| module | mutants | killed | timeout | type error | equivalent | survived | other |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        total, killed, survived = len(r.statuses), r.count("killed"), r.count("survived")
        timeout, typed, equivalent = r.count(TIMEOUT), r.count(TYPE_ERROR), r.count(EQUIVALENT)
        other = total - killed - timeout - typed - survived - equivalent
        cells = [r.module, total, killed, timeout, typed, equivalent, survived, other]
        rows.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(rows)


def report(results: list[ModuleResult]) -> str:
    parts = []
    for r in results:
        if r.error:
            parts.append(f"## {r.module}: mutmut checked no mutant\n{r.error}")
            continue
        parts += [f"## timeout (caught)\n{r.diffs[n].strip()}" for n in r.timeouts]
        parts += [f"## {r.statuses[n]}\n{r.diffs[n].strip()}" for n in r.survivors]
    return "\n\n".join([*parts, table(results)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="modules to mutate (default: all)")
    parser.add_argument("--max-children", type=int, default=2, help="mutants run at once")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"no test mapping for {unknown}; known: {sorted(MODULES)}")
    results = []
    for module in args.modules or list(MODULES):
        print(f"mutating {module} ...", flush=True)
        results.append(run_module(module, MODULES[module], args.max_children))
        print(table(results[-1:]).splitlines()[-1], flush=True)
    print(report(results))
    failed = any(r.error or r.survivors for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
