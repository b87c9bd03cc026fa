"""Loading a mapping YAML: the YAML dialect mappings are written in, and readable errors."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from crm.importer.mapping import ImportMapping, MappingError


class _MappingLoader(yaml.SafeLoader):
    """YAML 1.2 booleans (Yes/No/On/Off/NO stay text: they are CRM values and country codes),
    numbers that keep their written text, and an error on duplicate keys (a value map listing
    a value twice)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key_node.value!r} (quote keys that must "
                    "differ as text, e.g. '01' and '1')", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _YamlInt(int):
    yaml_text: str


class _YamlFloat(float):
    yaml_text: str


def _construct_number(loader: _MappingLoader, node: yaml.ScalarNode) -> int | float:
    """Numbers remember how they were written, for value maps keyed by codes such as 01."""
    if node.tag.endswith(":int"):
        number: int | float = _YamlInt(loader.construct_yaml_int(node))
    else:
        number = _YamlFloat(loader.construct_yaml_float(node))
    number.yaml_text = node.value  # type: ignore[union-attr]
    return number


_MappingLoader.add_constructor("tag:yaml.org,2002:int", _construct_number)
_MappingLoader.add_constructor("tag:yaml.org,2002:float", _construct_number)
_MappingLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_MappingLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


def load_mapping(path: Path | str) -> ImportMapping:
    """Read and validate a mapping YAML.

    Raises:
        MappingError: the file is missing, is not YAML, or breaks the mapping format; the
            message names each bad key by its path (e.g. ``tables.leads.columns.source``).
    """
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_MappingLoader)
    except FileNotFoundError:
        raise MappingError(f"mapping file not found: {path}") from None
    except yaml.YAMLError as err:
        raise MappingError(f"{path}: not valid YAML: {err}") from None
    return parse_mapping(data, origin=str(path))


def parse_mapping(data: object, origin: str = "<mapping>") -> ImportMapping:
    """Validate an already-parsed mapping (a dict as ``load_mapping`` reads it from YAML)."""
    if not isinstance(data, dict):
        raise MappingError(f"{origin}: a mapping must be a YAML mapping with keys name, tables")
    try:
        return ImportMapping.model_validate(data)
    except ValidationError as err:
        raise MappingError(_describe_errors(err, origin)) from None


def _describe_errors(err: ValidationError, origin: str) -> str:
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        if e["type"] == "extra_forbidden":
            where, message = ".".join(loc[:-1]), f"unknown key {loc[-1]!r}"
        else:
            where, message = ".".join(loc), str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"  - {where}: {message}" if where else f"  - {message}")
    return f"{origin}: invalid mapping:\n" + "\n".join(lines)
