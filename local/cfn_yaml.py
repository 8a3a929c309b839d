"""YAML with CloudFormation's short-form tags: ``!Ref``, ``!GetAtt``, ``!Sub``, ... are turned
into their long form (``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import yaml

from local.template_model import (
    TemplateError,
)


class CfnLoader(yaml.SafeLoader):
    """A safe YAML loader that turns ``!Tag value`` into ``{"Fn::Tag": value}``."""


def _tag_constructor(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        elif isinstance(node, yaml.MappingNode):
            value = loader.construct_mapping(node, deep=True)
        else:
            raise TemplateError(f"unexpected YAML node for !{name}")
        if name == "Fn::GetAtt" and isinstance(value, str):
            logical, _, attribute = value.partition(".")
            value = [logical, attribute]
        return {name: value}

    return construct


for _tag in (
    "Base64", "Cidr", "FindInMap", "GetAtt", "GetAZs", "ImportValue", "Join", "Select",
    "Split", "Sub", "Transform", "If", "Equals", "Not", "And", "Or", "Length", "ToJsonString",
):  # fmt: skip
    CfnLoader.add_constructor(f"!{_tag}", _tag_constructor(f"Fn::{_tag}"))
CfnLoader.add_constructor("!Ref", _tag_constructor("Ref"))
CfnLoader.add_constructor("!Condition", _tag_constructor("Condition"))


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (YAML or JSON) into plain Python values."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)  # noqa: S506 - safe loader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: not a template (top level is not a mapping)")
    return cast(dict[str, Any], data)
