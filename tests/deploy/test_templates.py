"""The templates in deploy/aws: lint clean with the ASL embedded, substitutions that match
the definitions both ways, handlers and tables that match the code they deploy."""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.deploy.lint import TEMPLATES, lint

from mrbatch.aws import lambdas
from mrbatch.aws.deploy.templates import (
    DEFINITION_KEY,
    DEFINITIONS_DIR,
    load_template,
    render,
    substitution_mismatches,
)
from mrbatch.aws.settings import REQUIRED
from mrbatch.notify.ses import MAIL_LEDGER
from mrbatch.routing.dynamodb import ROUTING
from mrbatch.state import BATCH_STATE, ERRORS, FINANCIALS
from mrbatch.state.schema import TableSpec


def _copied_definitions(tmp_path: Path) -> Path:
    folder = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS_DIR, folder)
    return folder


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}: update this test's edit"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_templates_lint_clean_in_both_regions_with_definitions_embedded(tmp_path: Path) -> None:
    run = lint(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    regional = json.loads((tmp_path / "regional.json").read_text(encoding="utf-8"))
    embedded = [
        r for r in regional["Resources"].values() if DEFINITION_KEY in r.get("Metadata", {})
    ]
    assert len(embedded) == 3 and all(
        isinstance(r["Properties"]["Definition"], dict) for r in embedded
    )


def test_lint_fails_when_an_embedded_definition_is_broken(tmp_path: Path) -> None:
    definitions = _copied_definitions(tmp_path)
    _edit(definitions / "chunk_processor_batched.asl.json", '"Type": "Task"', '"Type": "Tsak"')
    (tmp_path / "out").mkdir()
    run = lint(tmp_path / "out", definitions)
    assert run.returncode != 0
    assert "E3601" in run.stdout and "Tsak" in run.stdout


def test_substitutions_match_the_shipped_definitions_both_ways() -> None:
    assert substitution_mismatches(render("regional")) == []


def test_substitution_mismatch_reported_when_a_placeholder_has_no_key(tmp_path: Path) -> None:
    definitions = _copied_definitions(tmp_path)
    _edit(
        definitions / "main_orchestrator.asl.json",
        "${MergeAllFilesFunctionArn}",
        "${MergeEverythingFunctionArn}",
    )
    problems = substitution_mismatches(render("regional", definitions_dir=definitions))
    assert problems == [
        "MainOrchestrator (main_orchestrator.asl.json): ${MergeEverythingFunctionArn} has no "
        "DefinitionSubstitutions entry",
        "MainOrchestrator (main_orchestrator.asl.json): substitution MergeAllFilesFunctionArn "
        "is not used by the definition",
    ]


def _regional_functions() -> dict[str, dict[str, Any]]:
    resources = load_template("regional")["Resources"]
    return {
        k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"
    }


def test_every_lambda_handler_is_deployed_and_every_deployed_handler_exists() -> None:
    handlers = {p["Handler"] for p in _regional_functions().values()}
    in_code = {
        f"mrbatch.aws.lambdas.{name}"
        for name in lambdas.__all__
        if len(inspect.signature(getattr(lambdas, name)).parameters) == 2  # (event, context)
    }
    assert handlers == in_code


def test_functions_get_every_required_setting() -> None:
    for logical_id, properties in _regional_functions().items():
        given = set(properties["Environment"]["Variables"])
        missing = set(REQUIRED) - given - {"AWS_REGION"}  # Lambda sets AWS_REGION itself
        assert not missing, f"{logical_id} lacks {sorted(missing)}"


def _table_shape(
    resource: dict[str, Any],
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    properties = resource["Properties"]
    types = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}
    keys = tuple(k["AttributeName"] for k in properties["KeySchema"])
    indexes = tuple(
        i["KeySchema"][0]["AttributeName"] for i in properties.get("GlobalSecondaryIndexes", [])
    )
    return keys, tuple(types[k] for k in keys), indexes


@pytest.mark.parametrize(
    ("logical_id", "spec"),
    [
        ("BatchStateTable", BATCH_STATE),
        ("ErrorsTable", ERRORS),
        ("FinancialsTable", FINANCIALS),
        ("MailLedgerTable", MAIL_LEDGER),
        ("RoutingTable", ROUTING),
    ],
)
def test_global_tables_have_the_shape_the_code_uses(logical_id: str, spec: TableSpec) -> None:
    resource = load_template("global")["Resources"][logical_id]
    assert _table_shape(resource) == (spec.key_names, spec.key_types, spec.indexes)


def test_routing_table_is_strongly_consistent_with_a_witness() -> None:
    properties = load_template("global")["Resources"]["RoutingTable"]["Properties"]
    assert properties["MultiRegionConsistency"] == "STRONG"
    assert properties["GlobalTableWitnesses"] == [{"Region": {"Ref": "WitnessRegion"}}]


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_take_the_environment_name(name: str) -> None:
    assert "EnvName" in load_template(name)["Parameters"]


def test_replication_keeps_inputs_when_deleted_and_has_a_time_control() -> None:
    bucket = load_template("storage")["Resources"]["DataBucket"]["Properties"]
    rule = bucket["ReplicationConfiguration"]["Fn::If"][1]["Rules"][0]
    assert rule["DeleteMarkerReplication"] == {"Status": "Disabled"}
    assert rule["Destination"]["ReplicationTime"]["Status"] == "Enabled"
    assert rule["Destination"]["Metrics"]["Status"] == "Enabled"
    assert "SourceSelectionCriteria" not in rule  # replica modifications stay unsynced
