"""JSON Schema of every config file, from the same pydantic models the loader validates with.

``syncd config schema`` writes them into ``<config dir>/schema/``; the templates' first line
(``# yaml-language-server: $schema=...``) points editors (VS Code with the YAML extension, JetBrains)
at them, so a misspelt key is underlined and keys are completed while the operator types.
The schemas describe the files before ``${NAME}`` references are replaced: a reference in a number or
true/false field is flagged by the editor although syncd accepts it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, Field, TypeAdapter

from syncd import registry
from syncd.alerts.config import AlertsConfig
from syncd.config.models import GlobalConfig, Route, StrictModel

DRAFT = "https://json-schema.org/draft/2020-12/schema"


class RoutesFile(StrictModel):
    """``routes.yaml``: merchant SKU code → supplier (routes.csv / routes.xlsx hold the same as a table)."""

    routes: list[Route]


def _one_of(models: Iterable[type[BaseModel]], tag: str) -> dict[str, Any]:
    """The schema of "one of these models, chosen by ``tag``"; a model's ``id`` is optional (the file name)."""
    members = tuple(models)
    if not members:
        return {"type": "object"}
    union: Any = members[0] if len(members) == 1 else Annotated[Union[members], Field(discriminator=tag)]  # noqa: UP007
    schema = TypeAdapter(union).json_schema()
    for definition in [schema, *schema.get("$defs", {}).values()]:
        if definition.get("title") in {m.__name__ for m in members} and "id" in definition.get("required", []):
            definition["required"] = [r for r in definition["required"] if r != "id"]
    return schema


def _alerts() -> dict[str, Any]:
    schema = AlertsConfig.model_json_schema()
    channels = _one_of((p.config_model for p in registry.SINKS.values()), "kind")
    schema.setdefault("$defs", {}).update(channels.pop("$defs", {}))
    schema["properties"]["channels"] = {"type": "array", "items": channels,
                                        "description": "Where alerts are sent: one entry per robot or mailbox."}
    return schema


def schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema, for every file of the config directory."""
    registry.load_builtin()
    out = {
        "syncd.schema.json": GlobalConfig.model_json_schema(),
        "routes.schema.json": RoutesFile.model_json_schema(),
        "alerts.schema.json": _alerts(),
        "tracking.schema.json": _one_of((p.config_model for p in registry.TRACKING.values()), "provider"),
        "shop.schema.json": _one_of((p.config_model for p in registry.STOREFRONTS.values()), "platform"),
        "supplier.schema.json": _one_of((p.config_model for p in registry.SUPPLIERS.values()), "kind"),
    }
    return {name: {"$schema": DRAFT, **schema} for name, schema in out.items()}


def write_schemas(folder: Path) -> list[Path]:
    """Write every schema into ``folder`` (created when missing); the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = folder / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written
