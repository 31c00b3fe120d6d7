"""`.Values`: a values file merged with `--set key=value` overrides, as acb's `templating/values.go`.

acb serialises the `--set` pairs to YAML (each key as written: `a.b=c` is a key literally named
"a.b", never a nested path) and merges the values file under them: a key only in the file is copied,
a key in both keeps the `--set` value. The merge also knows nested maps (merged key by key, a map is
never replaced by a scalar) and null (deletes the key); `--set` values are always strings, so those
rules only matter for `merge_values` callers that pass structured overrides.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core.errors import InvalidTaskFile
from core.taskfile.parse import Reader, compose
from core.taskfile.positions import TextMap, quote

_TAG = "tag:yaml.org,2002:"
_AS_TEXT = {_TAG + "timestamp", _TAG + "binary"}  # yaml.v2 leaves these as strings in a generic map


@dataclass(frozen=True)
class MergedValues:
    values: dict[str, Any]
    warnings: tuple[str, ...] = ()


def load_values_file(text: str, *, file_name: str) -> dict[str, Any]:
    """The mapping in a values file; syntax errors carry `file:line:column`."""
    text_map = TextMap.of_source(file_name, text.removeprefix("\ufeff"))
    root = compose(text_map, aliases_enabled=False)
    if root is None:
        return {}
    reader = Reader(text_map)
    if not isinstance(root, MappingNode):
        raise reader.error(
            root, "a values file must be a mapping of names to values, e.g. `registry: myreg.azurecr.io`", target=None
        )
    try:
        return {
            key: _to_python(reader, entry.value, SafeConstructor(), key)
            for key, entry in reader.mapping(root, target="values", allowed=None, what="").items()
        }
    except RecursionError:
        raise text_map.error(0, 0, "the values nest too deeply to read") from None


def parse_set_values(items: Sequence[str]) -> list[tuple[str, str]]:
    """`--set` arguments split at the first `=` (acb parseValues); the key must not be empty."""
    pairs = []
    for item in items:
        key, equals, value = item.partition("=")
        if not equals:
            raise InvalidTaskFile(f"--set {quote(item)}: expected key=value, but there is no '='", target="--set")
        if not key:
            raise InvalidTaskFile(f"--set {quote(item)}: expected key=value, but the key is empty", target="--set")
        pairs.append((key, value))
    return pairs


def merge_values(file_values: Mapping[str, Any] | None, overrides: Sequence[tuple[str, Any]]) -> MergedValues:
    """The `.Values` map: `overrides` (later pairs win; `--set` gives strings) merged over `file_values`."""
    merged: dict[str, Any] = {}
    for key, value in overrides:
        if not key:
            raise InvalidTaskFile("--set: expected key=value, but a key is empty", target="--set")
        merged[key] = value
    warnings: list[str] = []
    for key, value in (file_values or {}).items():
        if key not in merged:
            merged[key] = copy.deepcopy(value)
            continue
        override = merged[key]
        if override is None:
            del merged[key]
        elif isinstance(override, dict):
            if isinstance(value, dict):
                merged[key] = _merge_maps(copy.deepcopy(value), override, key, warnings)
            else:
                warnings.append(f"value {key!r}: the values file has a scalar here, so the override's map is kept")
        elif isinstance(value, dict):
            # acb keeps the --set scalar here; say so, since templates that read the map will get nothing
            warnings.append(
                f"value {key!r}: --set replaces the map from the values file with a string; "
                f"templates that read {key}.<name> get nothing"
            )
    for key, value in dict(overrides).items():
        if value is None:
            merged.pop(key, None)  # a null override of a key the file does not have
    return MergedValues(merged, tuple(warnings))


def _merge_maps(sink: dict[str, Any], source: Mapping[str, Any], path: str, warnings: list[str]) -> dict[str, Any]:
    for key, value in source.items():
        where = f"{path}.{key}"
        if value is None:
            sink.pop(key, None)
        elif isinstance(value, dict):
            if key not in sink:
                sink[key] = copy.deepcopy(value)
            elif isinstance(sink[key], dict):
                _merge_maps(sink[key], value, where, warnings)
            else:
                warnings.append(f"value {where!r}: a scalar is not replaced by a map; kept the scalar")
        elif isinstance(sink.get(key), dict):
            warnings.append(f"value {where!r}: a map is never replaced by a scalar; kept the map")
        else:
            sink[key] = value
    return sink


def _to_python(reader: Reader, node: Node, constructor: SafeConstructor, target: str) -> Any:
    if isinstance(node, MappingNode):
        entries = reader.mapping(node, target=target, allowed=None, what="")
        return {key: _to_python(reader, entry.value, constructor, f"{target}.{key}") for key, entry in entries.items()}
    if isinstance(node, SequenceNode):
        return [_to_python(reader, item, constructor, f"{target}[{index}]") for index, item in enumerate(node.value)]
    if not isinstance(node, ScalarNode) or node.tag in _AS_TEXT or not node.tag.startswith(_TAG):
        return node.value
    return constructor.construct_object(node)
