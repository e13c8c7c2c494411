"""The mutation harness (tools/mutation.py) points at files that exist, and tells an
equivalent mutant (SQL keywords in another case) from one that changes behaviour.

`make mutation` is not part of `make test`, so a module moved or a test file renamed would
otherwise be found only by the next person who runs it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_tool", ROOT / "tools" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


def test_every_mapped_module_and_test_file_exists(tool: ModuleType) -> None:
    missing = [
        path
        for module, tests in tool.MODULES.items()
        for path in [module, *tests]
        if not (ROOT / path).is_file()
    ]
    assert tool.MODULES and missing == []


def test_mutmut_config_mutates_one_module_with_its_tests(tool: ModuleType) -> None:
    config = tool.mutmut_config("src/mrbatch/routing/local.py", ["tests/a.py", "tests/b.py"])
    assert 'only_mutate = ["src/mrbatch/routing/local.py"]' in config
    assert 'pytest_add_cli_args_test_selection = ["tests/a.py", "tests/b.py"]' in config
    assert 'process_isolation = "forkserver"' in config
    assert '"mypy", "src/mrbatch/routing/local.py", "--output", "json"' in config


SQL_CASE = """\
@@ -1,3 +1,3 @@
 def _latest(conn):
-    row = conn.execute("SELECT epoch FROM routing_history LIMIT 1")
+    row = conn.execute("select epoch from routing_history limit 1")
"""
SQL_CHANGED = SQL_CASE.replace("limit 1", "limit 2")
MESSAGE_CASE = """\
-    raise RoutingError("the store is empty")
+    raise RoutingError("THE STORE IS EMPTY")
"""


def test_sql_case_change_is_equivalent(tool: ModuleType) -> None:
    assert tool.is_sql_case_change(SQL_CASE) is True


@pytest.mark.parametrize("diff", [SQL_CHANGED, MESSAGE_CASE, ""])
def test_other_changes_are_not_equivalent(tool: ModuleType, diff: str) -> None:
    assert tool.is_sql_case_change(diff) is False


QUOTE_LINE = '-    path = "/" + quote(bucket, safe="") + "/" + quote(key, safe="/~")\n'


@pytest.mark.parametrize(
    "mutated",
    [
        'quote(bucket, safe="") + "/" + quote(key, safe="XX/~XX")',  # letters: never encoded
        'quote(bucket, safe="XXXX") + "/" + quote(key, safe="/~")',
        'quote(bucket, safe="") + "/" + quote(key, )',  # "~" is never encoded, "/" is default
    ],
)
def test_quote_safe_change_quote_cannot_see_is_equivalent(tool: ModuleType, mutated: str) -> None:
    original = 'quote(bucket, safe="") + "/" + quote(key, safe="/~")'
    diff = QUOTE_LINE + "+" + QUOTE_LINE[1:].replace(original, mutated)
    assert tool.is_quote_safe_change(diff) is True
    assert tool.is_equivalent(diff) is True


@pytest.mark.parametrize(
    "mutated",
    [
        'quote(bucket, ) + "/" + quote(key, safe="/~")',  # "/" no longer encoded in a bucket
        'quote(bucket, safe="") + "/" + quote(key, safe="~")',  # "/" now encoded in a key
        'quote(bucket, safe="") + "/" + quote(None, safe="/~")',
    ],
)
def test_quote_changes_that_encode_differently_are_not_equivalent(
    tool: ModuleType, mutated: str
) -> None:
    original = 'quote(bucket, safe="") + "/" + quote(key, safe="/~")'
    diff = QUOTE_LINE + "+" + QUOTE_LINE[1:].replace(original, mutated)
    assert tool.is_quote_safe_change(diff) is False


MIME_SOURCE = """\
def build(message):
    mime = EmailMessage()
    mime["From"] = message.sender
    return mime
"""


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ('    mime["From"] = message.sender', '    mime["FROM"] = message.sender', True),
        ('    row = (key, mime["Message-ID"])', '    row = (key, mime["message-id"])', True),
        ('    mime["From"] = message.sender', '    mime["XXFromXX"] = message.sender', False),
        ('    mime["From"] = message.sender', '    mime["From"] = MESSAGE.SENDER', False),
        ('    other["From"] = message.sender', '    other["FROM"] = message.sender', False),
    ],
)
def test_header_case_change_on_a_built_email_message_is_equivalent(
    tool: ModuleType, before: str, after: str, expected: bool
) -> None:
    diff = f"-{before}\n+{after}\n"
    assert tool.is_mime_header_case_change(diff, MIME_SOURCE) is expected
    assert tool.is_mime_header_case_change(diff, "") is False  # no EmailMessage built


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ('    return quote(raw, safe="XX/XX" if keep_slash else "")', True),
        ('    return quote(raw, safe="/" if keep_slash else "XXXX")', True),
        ('    return quote(raw, safe="/" if keep_slash else "/")', False),
        ('    return quote(raw, safe="" if keep_slash else "")', False),
    ],
)
def test_quote_safe_given_by_a_conditional_is_compared_branch_by_branch(
    tool: ModuleType, after: str, expected: bool
) -> None:
    diff = f'-    return quote(raw, safe="/" if keep_slash else "")\n+{after}\n'
    assert tool.is_quote_safe_change(diff) is expected


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ('    text = name.decode("UTF-8", "replace")', True),
        ('    text = name.decode("utf-8", "REPLACE")', False),  # error handlers are not folded
        ('    text = name.decode("latin-1", "replace")', False),
    ],
)
def test_codec_name_case_change_is_equivalent(tool: ModuleType, after: str, expected: bool) -> None:
    diff = f'-    text = name.decode("utf-8", "replace")\n+{after}\n'
    assert tool.is_codec_name_case_change(diff) is expected


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ({}, True),
        ({"m_1": "not checked", "m_2": "not checked"}, True),
        ({"m_1": "not checked", "m_2": "killed"}, False),
        ({"m_1": "survived"}, False),
    ],
)
def test_a_run_that_checked_no_mutant_is_a_failed_run(
    tool: ModuleType, statuses: dict[str, str], expected: bool
) -> None:
    # mutmut lists every mutant as "not checked" when its clean run or its set-up failed
    assert tool.nothing_checked(statuses) is expected


def test_report_of_a_failed_run_shows_mutmuts_output_and_no_diffs(tool: ModuleType) -> None:
    failed = tool.ModuleResult("src/m.py", {"m_1": "not checked"}, error="clean run failed")
    assert tool.report([failed]).startswith(
        "## src/m.py: mutmut checked no mutant\nclean run failed"
    )
