"""The CloudFormation templates of deploy/aws/, rendered for deployment and for linting.

A template is YAML with long-form intrinsics only (`Fn::Sub:`, `Ref:`), so a plain YAML
reader loads it. Rendering does two things:

- a state machine resource whose metadata names a definition (`mrbatch:definition:
  main_orchestrator.asl.json`) gets that file as its inline `Definition` object. The
  deployed template and the linted one are the same rendered text, so cfn-lint validates
  the very ASL that is deployed (it checks an inline `Definition`, not `DefinitionString`
  or `DefinitionUri`);
- every `AWS::Lambda::Function` gets a log group of its own (`/aws/lambda/<name>`), so
  retention is set and destroy removes it.

`substitution_mismatches` checks what no linter does: that a definition's `${Placeholder}`s
and the resource's `DefinitionSubstitutions` keys match both ways.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mrbatch.errors import ConfigError

__all__ = [
    "DEFINITIONS_DIR",
    "DEFINITION_KEY",
    "TEMPLATES_DIR",
    "Template",
    "load_template",
    "placeholders",
    "render",
    "state_machines",
    "substitution_mismatches",
]

TEMPLATES_DIR = Path(__file__).resolve().parents[4] / "deploy" / "aws"
"""deploy/aws/ of the source tree (the CLI runs from a checkout: `pip install -e .`)."""
DEFINITIONS_DIR = Path(__file__).resolve().parents[2] / "workflows" / "definitions"
DEFINITION_KEY = "mrbatch:definition"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:]+)\}")


@dataclass(frozen=True)
class Template:
    """A template's name (its file stem) and its rendered body."""

    name: str
    body: dict[str, Any]

    def text(self) -> str:
        """The body as CloudFormation reads it (JSON, keys in template order)."""
        return json.dumps(self.body, indent=1)


def load_template(name: str, templates_dir: Path = TEMPLATES_DIR) -> dict[str, Any]:
    """deploy/aws/<name>.yaml as a dict (ConfigError if missing or not a mapping)."""
    path = templates_dir / f"{name}.yaml"
    try:
        body = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"template {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"template {path}: not valid YAML: {exc}") from exc
    if not isinstance(body, dict) or "Resources" not in body:
        raise ConfigError(f"template {path}: not a CloudFormation template")
    return body


def render(
    name: str,
    *,
    templates_dir: Path = TEMPLATES_DIR,
    definitions_dir: Path = DEFINITIONS_DIR,
) -> Template:
    """deploy/aws/<name>.yaml with its definitions embedded and its log groups added."""
    body = load_template(name, templates_dir)
    resources: dict[str, Any] = body["Resources"]
    for _, resource in state_machines(body):
        file = resource["Metadata"][DEFINITION_KEY]
        resource["Properties"]["Definition"] = _definition(definitions_dir / file)
    for logical_id, resource in list(resources.items()):
        if resource.get("Type") == "AWS::Lambda::Function":
            resources[f"{logical_id}Logs"] = _log_group(resource)
            resource["DependsOn"] = [f"{logical_id}Logs"]  # before Lambda makes its own
    return Template(name, body)


def state_machines(body: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, resource) of every state machine whose definition is a file."""
    for logical_id, resource in body["Resources"].items():
        if DEFINITION_KEY in (resource.get("Metadata") or {}):
            yield logical_id, resource


def placeholders(definition: Any) -> set[str]:
    """Every `${Name}` in the definition's strings (keys included)."""
    found: set[str] = set()
    if isinstance(definition, str):
        found.update(_PLACEHOLDER.findall(definition))
    elif isinstance(definition, dict):
        for key, value in definition.items():
            found |= placeholders(key) | placeholders(value)
    elif isinstance(definition, list):
        for value in definition:
            found |= placeholders(value)
    return found


def substitution_mismatches(template: Template) -> list[str]:
    """One line per placeholder without a substitution and per substitution without a
    placeholder, for every embedded definition (empty: they match both ways)."""
    problems = []
    for logical_id, resource in state_machines(template.body):
        properties = resource["Properties"]
        used = placeholders(properties["Definition"])
        given = set(properties.get("DefinitionSubstitutions") or {})
        file = resource["Metadata"][DEFINITION_KEY]
        problems += [
            f"{logical_id} ({file}): ${{{name}}} has no DefinitionSubstitutions entry"
            for name in sorted(used - given)
        ]
        problems += [
            f"{logical_id} ({file}): substitution {name} is not used by the definition"
            for name in sorted(given - used)
        ]
    return problems


def _definition(path: Path) -> dict[str, Any]:
    try:
        definition = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"state machine definition {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"state machine definition {path}: not JSON: {exc}") from exc
    if not isinstance(definition, dict):
        raise ConfigError(f"state machine definition {path}: not a JSON object")
    return definition


def _log_group(function: Mapping[str, Any]) -> dict[str, Any]:
    name = function["Properties"]["FunctionName"]
    return {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "Properties": {
            "LogGroupName": {"Fn::Sub": ["/aws/lambda/${Name}", {"Name": name}]},
            "RetentionInDays": {"Ref": "LogRetentionDays"},
        },
    }
