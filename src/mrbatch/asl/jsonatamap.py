"""Load-time rules of a JSONata Distributed Map's ItemReader, ItemBatcher and ResultWriter.

In a JSONata state these blocks take `Arguments` where a JSONPath state has `Parameters`, have
no `...Path` fields, and may give their numbers (ReaderConfig.MaxItems, MaxItemsPerBatch,
MaxInputBytesPerBatch) and BatchInput as `{% %}` expressions. The rules both languages share
(the resource, InputType, CSV headers, WriterConfig, literal ranges) stay in `mapconfig`: each
block is handed to it as a JSONPath stand-in, and the block as written is what the state keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from mrbatch.asl import query
from mrbatch.asl.definition import JsonValue
from mrbatch.asl.errors import DefinitionError

__all__ = ["BLOCKS", "split_blocks"]

BLOCKS: Final = ("ItemReader", "ItemBatcher", "ResultWriter")
_JSONPATH: Final = frozenset(
    {"Parameters", "MaxItemsPath", "MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath"}
)


def split_blocks(raw: Mapping[str, Any], state: str) -> tuple[dict[str, Any], dict[str, JsonValue]]:
    """(`raw` with each block replaced by a JSONPath stand-in for `mapconfig` to check, the
    blocks as written, their expressions compiled). Raises DefinitionError for what a JSONata
    state may not have."""
    shared = dict(raw)
    given: dict[str, JsonValue] = {}
    for name, stand_in in _STAND_INS.items():
        block = raw.get(name)
        if isinstance(block, dict):
            shared[name] = stand_in(block, state)
            given[name] = query.check_value(block, state, name)
    return shared, given


def _refuse_jsonpath(block: Mapping[str, Any], state: str, where: str) -> None:
    found = sorted(set(block) & _JSONPATH)
    if found:
        field = found[0]
        raise DefinitionError(
            f"{where}.{field} is a JSONPath field; a JSONata state uses "
            + ("Arguments" if field == "Parameters" else "an expression in the field itself")
            + " instead",
            state=state,
        )


def _without_expressions(block: Mapping[str, Any], stand_in: JsonValue) -> dict[str, Any]:
    """`block` with each expression-valued field replaced by `stand_in`."""
    return {k: stand_in if query.is_expression(v) else v for k, v in block.items()}


def _reader(block: Mapping[str, Any], state: str) -> dict[str, Any]:
    _refuse_jsonpath(block, state, "ItemReader")
    if "Arguments" not in block:
        raise DefinitionError("ItemReader needs Arguments (Bucket, ...)", state=state)
    stand_in = {k: v for k, v in block.items() if k != "Arguments"}
    config = block.get("ReaderConfig")
    if isinstance(config, dict):
        _refuse_jsonpath(config, state, "ItemReader.ReaderConfig")
        stand_in["ReaderConfig"] = _without_expressions(config, 1)
    stand_in["Parameters"] = {"Bucket": "-"}  # Arguments are checked as JSONata instead
    return stand_in


def _batcher(block: Mapping[str, Any], state: str) -> dict[str, Any]:
    _refuse_jsonpath(block, state, "ItemBatcher")
    return {k: v for k, v in _without_expressions(block, 1).items() if k != "BatchInput"}


def _writer(block: Mapping[str, Any], state: str) -> dict[str, Any]:
    _refuse_jsonpath(block, state, "ResultWriter")
    stand_in = {k: v for k, v in block.items() if k != "Arguments"}
    if "Arguments" in block:
        stand_in["Parameters"] = {}
    return stand_in


_STAND_INS: Final[dict[str, Callable[[Mapping[str, Any], str], dict[str, Any]]]] = {
    "ItemReader": _reader,
    "ItemBatcher": _batcher,
    "ResultWriter": _writer,
}
