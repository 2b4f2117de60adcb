"""Read and validate the config directory; report every problem at once as ``file: key.path: message``.

Layout::

    syncd.yaml              global settings (optional)
    shops/<id>.yaml         one storefront shop per file (``platform:`` picks the adapter)
    suppliers/<id>.yaml     one supplier per file (``kind:`` picks the adapter)
    routes.yaml             merchant SKU code → supplier, supplier SKU, multiplier
    routes.csv | .xlsx      the same as a table (Chinese or English headers, UTF-8 or GBK): routetable.py
    alerts.yaml, tracking.yaml  alert channels and rules; the tracking provider
    schema/                 JSON Schemas written by ``syncd config schema`` (editors validate with them)

``.yml`` is accepted wherever ``.yaml`` is; any other file or folder is an error (layout.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Secret, SecretBytes, SecretStr, ValidationError

from syncd import registry
from syncd.alerts.config import AlertsConfig
from syncd.config.layout import check_top_level, folder_files, present, suggest, yaml_file
from syncd.config.models import GlobalConfig, Route, ShopConfigBase, SupplierConfigBase
from syncd.config.routetable import MAX_ROW_ERRORS, read_route_table
from syncd.errors import ConfigError, ConfigErrors
from syncd.i18n import _

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Config:
    """Everything the operator configured, validated."""

    directory: Path
    global_: GlobalConfig
    shops: dict[str, ShopConfigBase] = field(default_factory=dict)
    suppliers: dict[str, SupplierConfigBase] = field(default_factory=dict)
    routes: dict[str, Route] = field(default_factory=dict)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    channels: dict[str, Any] = field(default_factory=dict)  # alert channel id → the kind's config model
    tracking: Any = None  # the tracking provider's config model (tracking.yaml), None when not configured


class FromEnv(str):
    """A string that came (wholly or partly) from a ``${NAME}`` reference: never echoed in a message.

    Secrets are written as references, so such a value is treated as one whatever the field it lands in
    (a token put in a date field by mistake must not be printed back). pydantic turns it into a plain str
    once validated; an error's input keeps the mark."""

    __slots__ = ()


HIDDEN = "(not shown: a secret or a value from the environment)"


def _substitute(value: Any, file: str, path: str, env: Mapping[str, str], errors: list[ConfigError]) -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string, recording unset variables; the results are
    :class:`FromEnv`."""
    if isinstance(value, dict):
        return {k: _substitute(v, file, f"{path}.{k}" if path else str(k), env, errors) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, file, f"{path}[{i}]", env, errors) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            errors.append(ConfigError(file, path, _("environment variable {name} is not set").format(name=name)))
            return ""
        return FromEnv(_ENV.sub(repl, value))
    return value


def shown(value: Any) -> str:
    """``value`` for a message: its repr, unless it came from the environment (then HIDDEN)."""
    return HIDDEN if isinstance(value, FromEnv) else repr(value)


def _members(annotation: Any) -> list[Any]:
    """The types an annotation allows: Annotated and unions (Optional included) unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _is_secret(annotation: Any) -> bool:
    """Whether the annotation allows a secret type (SecretStr, SecretBytes, Secret[...])."""
    for member in _members(annotation):
        cls = get_origin(member) or member
        if isinstance(cls, type) and issubclass(cls, SecretStr | SecretBytes | Secret):
            return True
    return False


def _children(annotation: Any, part: int | str) -> list[Any]:
    """The annotations one step down ``part`` (a field of a model, an item of a list, a value of a dict)."""
    out: list[Any] = []
    for member in _members(annotation):
        origin, args = get_origin(member), get_args(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            fields = member.model_fields
            hit = fields.get(part) if isinstance(part, str) else None
            hit = hit or next((f for f in fields.values() if f.alias == part), None)
            if hit is not None:
                out.append(hit.annotation)
        elif origin in (list, set, frozenset, tuple, Sequence) and args:
            out.append(args[0])
        elif origin in (dict, Mapping) and len(args) == 2:
            out.append(args[1])
    return out


def secret_at(model: Any, loc: Sequence[int | str]) -> bool:
    """Whether ``loc`` (a pydantic error location) is, or is inside, a field whose type is a secret."""
    current = [model]
    for part in loc:
        if any(_is_secret(t) for t in current):
            return True
        below = [t for c in current for t in _children(c, part)]
        if below:  # a part that names no field (a union member's tag, a validator) stays where it was
            current = below
    return any(_is_secret(t) for t in current)


def keys_at(model: Any, loc: Sequence[int | str]) -> list[str]:
    """The keys the model allows at ``loc`` (the field names of the model(s) found there), for "did you mean"."""
    current = [model]
    for part in loc:
        current = [t for c in current for t in _children(c, part)]
    keys: list[str] = []
    for member in (m for c in current for m in _members(c)):
        if isinstance(member, type) and issubclass(member, BaseModel):
            keys.extend(f.alias or name for name, f in member.model_fields.items())
    return keys


def _pydantic_errors(file: str, err: ValidationError, model: Any = None) -> list[ConfigError]:
    """``err`` as ConfigErrors; ``model`` (what was validated) tells secret fields, and without it no value is shown."""
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        found = e.get("input")
        # never echo a secret: by the field's type, or by where the value came from (a ${NAME} reference)
        hidden = model is None or secret_at(model, e["loc"]) or isinstance(found, FromEnv)
        quiet = hidden or e["type"] == "missing" or isinstance(found, dict | list)
        msg = e["msg"]
        if hidden and isinstance(found, str) and found:
            msg = msg.replace(repr(str(found)), "***").replace(str(found), "***")  # a validator may quote it
        if e["type"] == "extra_forbidden":
            key = str(e["loc"][-1]) if e["loc"] else ""
            msg = _("unknown key (typo?)") + (suggest(key, keys_at(model, e["loc"][:-1])) if model is not None
                                               else "")
        else:
            if e["type"] == "literal_error":  # "Input should be 'live' or 'shadow'": say what is expected
                msg = _("expected {values}").format(values=msg.removeprefix("Input should be "))
            msg += "" if quiet else _(", found {value}").format(value=repr(found))
        out.append(ConfigError(file, loc, msg))
    return out


def _read_yaml(path: Path, rel: str, errors: list[ConfigError]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        errors.append(ConfigError(rel, "", "file is not UTF-8 text"))
    except OSError as err:  # unreadable (permissions, a broken link): a config problem, not a traceback
        errors.append(ConfigError(rel, "", f"cannot read the file: {err.strerror or type(err).__name__}"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or "not valid YAML"
        errors.append(ConfigError(rel, "", f"{where}{problem}"))
    return None


def _validate(model: type[BaseModel], data: dict[str, Any], rel: str, errors: list[ConfigError]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        errors.extend(_pydantic_errors(rel, err, model))
        return None


def _load_plugin_files(directory: Path, sub: str, discriminator: str, plugins: Mapping[str, Any],
                       env: Mapping[str, str], errors: list[ConfigError],
                       seen: set[str] | None = None) -> dict[str, Any]:
    """One config per file of ``sub/``; ``seen`` gets the id of every file, valid or not (so a route to a
    supplier whose file has an error is not reported a second time as a supplier without a file)."""
    out: dict[str, Any] = {}
    for path in folder_files(directory, sub, errors):
        rel = f"{sub}/{path.name}"
        if seen is not None:
            seen.add(path.stem)
        raw = _read_yaml(path, rel, errors)
        if raw is None:
            if path.is_file() and path.stat().st_size == 0:
                errors.append(ConfigError(rel, "", "file is empty"))
            continue
        if not isinstance(raw, dict):
            errors.append(ConfigError(rel, "", f"expected a mapping of keys, found {type(raw).__name__}"))
            continue
        data = _substitute(raw, rel, "", env, errors)
        data.setdefault("id", path.stem)
        if seen is not None and isinstance(data["id"], str):
            seen.add(data["id"])
        name = data.get(discriminator)
        if isinstance(name, int) and not isinstance(name, bool):  # ``kind: 1688`` unquoted is a YAML number
            name = data[discriminator] = str(name)
        if name not in plugins:
            known = ", ".join(sorted(plugins)) or "none registered"
            errors.append(ConfigError(rel, discriminator, f"expected one of: {known}; found {shown(name)}"))
            continue
        cfg = _validate(plugins[name].config_model, data, rel, errors)
        if cfg is not None:
            if cfg.id in out:
                errors.append(ConfigError(rel, "id", f"id {cfg.id!r} is used by another file too"))
            out[cfg.id] = cfg
    return out


def load_routes(directory: Path, env: Mapping[str, str], errors: list[ConfigError],
                where_of: dict[str, tuple[str, str]] | None = None) -> dict[str, Route]:
    """Every route of ``routes.yaml`` / ``.yml`` and of the table ``routes.csv`` / ``routes.xlsx``;
    ``where_of`` gets each SKU's (file, place in it) for later messages."""
    rows: list[tuple[str, str, Any]] = []  # (file, key path, data or why the row cannot be read)
    ypath = yaml_file(directory, "routes", errors)
    if ypath is not None:
        yname = ypath.name
        raw = _read_yaml(ypath, yname, errors)
        if raw is not None:
            items = raw.get("routes") if isinstance(raw, dict) else None
            if isinstance(raw, dict) and set(raw) - {"routes"}:
                for k in sorted(set(raw) - {"routes"}, key=str):
                    errors.append(ConfigError(yname, str(k), _("unknown key (typo?)") + suggest(str(k), ["routes"])))
            if not isinstance(items, list):
                errors.append(ConfigError(yname, "routes", "expected a list of routes"))
            else:
                rows.extend((yname, f"routes[{i}]", _substitute(r, yname, f"routes[{i}]", env, errors))
                            for i, r in enumerate(items))
    for table in ("routes.csv", "routes.xlsx"):
        if present(directory / table) and not (directory / table).is_dir():
            rows.extend((table, where, data) for where, data in read_route_table(directory / table, errors))
    routes: dict[str, Route] = {}
    where_of = {} if where_of is None else where_of
    failed: dict[str, int] = {}  # file → rows that failed; only the first MAX_ROW_ERRORS are listed
    for file, where, data in rows:
        problems: list[ConfigError] = []
        route = None
        if isinstance(data, str):
            problems.append(ConfigError(file, where, data))
        elif not isinstance(data, dict):
            problems.append(ConfigError(file, where, "expected a mapping with sku, supplier, supplier_sku"))
        else:
            try:
                route = Route.model_validate(data)
            except ValidationError as err:
                problems = [ConfigError(file, f"{where}.{e.path}", e.message)
                            for e in _pydantic_errors(file, err, Route)]
        if route is not None and route.sku in routes:
            first = " ".join(where_of[route.sku])
            problems.append(ConfigError(file, where, _("SKU {sku} is routed twice (first in {first})").format(
                sku=repr(route.sku), first=first)))
        if problems:
            failed[file] = failed.get(file, 0) + 1
            if failed[file] <= MAX_ROW_ERRORS:
                errors.extend(problems)
            continue
        assert route is not None
        routes[route.sku] = route
        where_of[route.sku] = (file, where)
    for file, n in failed.items():
        if n > MAX_ROW_ERRORS:
            errors.append(ConfigError(file, "", f"{n - MAX_ROW_ERRORS} more rows with errors not listed "
                                      f"({n} in all): fix the ones above, they are often the same mistake"))
    return routes


def _load_single(directory: Path, stem: str, env: Mapping[str, str],
                 errors: list[ConfigError]) -> dict[str, Any] | None:
    """One optional top-level YAML file (``<stem>.yaml`` or ``.yml``) as a mapping (None when absent or unreadable)."""
    path = yaml_file(directory, stem, errors)
    if path is None:
        return None
    name = path.name
    raw = _read_yaml(path, name, errors)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        errors.append(ConfigError(name, "", f"expected a mapping of keys, found {type(raw).__name__}"))
        return None
    data: dict[str, Any] = _substitute(raw, name, "", env, errors)
    return data


def _load_alerts(directory: Path, env: Mapping[str, str],
                 errors: list[ConfigError]) -> tuple[AlertsConfig, dict[str, Any]]:
    data = _load_single(directory, "alerts", env, errors)
    if data is None:
        return AlertsConfig(), {}
    name = yaml_file(directory, "alerts", []) or Path("alerts.yaml")
    alerts = _validate(AlertsConfig, data, name.name, errors) or AlertsConfig()
    channels: dict[str, Any] = {}
    for i, raw in enumerate(alerts.channels):
        where = f"channels[{i}]"
        kind = raw.get("kind") if isinstance(raw, dict) else None
        if not isinstance(kind, str) or kind not in registry.SINKS:
            known = ", ".join(sorted(registry.SINKS)) or "none registered"
            errors.append(ConfigError(name.name, f"{where}.kind",
                                      f"expected one of: {known}; found {shown(kind)}"))
            continue
        before = len(errors)
        cfg = _validate(registry.SINKS[kind].config_model, raw, name.name, errors)
        errors[before:] = [ConfigError(e.file, f"{where}.{e.path}" if e.path else where, e.message)
                           for e in errors[before:]]  # name the channel's place in the list
        if cfg is None:
            continue
        cid = getattr(cfg, "id", kind)
        if cid in channels:
            errors.append(ConfigError(name.name, f"{where}.id", f"channel id {cid!r} is used twice"))
        channels[cid] = cfg
    return alerts, channels


def _load_tracking(directory: Path, env: Mapping[str, str], errors: list[ConfigError]) -> Any:
    data = _load_single(directory, "tracking", env, errors)
    if data is None:
        return None
    name = (yaml_file(directory, "tracking", []) or Path("tracking.yaml")).name
    kind = data.get("provider")
    if not isinstance(kind, str) or kind not in registry.TRACKING:
        known = ", ".join(sorted(registry.TRACKING)) or "none registered"
        errors.append(ConfigError(name, "provider", f"expected one of: {known}; found {shown(kind)}"))
        return None
    return _validate(registry.TRACKING[kind].config_model, data, name, errors)


def _check_route_suppliers(routes: Mapping[str, Route], route_at: Mapping[str, tuple[str, str]],
                           supplier_files: set[str], errors: list[ConfigError]) -> None:
    """Every supplier a route names has a file, checked with or without a suppliers/ folder: one message per
    missing supplier (at its first route), not one per row of a long table."""
    missing: dict[tuple[str, str], list[str]] = {}  # (supplier, key) → SKUs naming it
    for sku, route in routes.items():
        for key, name in (("supplier", route.supplier), ("fallback_supplier", route.fallback_supplier)):
            if name and name not in supplier_files:
                missing.setdefault((name, key), []).append(sku)
    for (name, key), skus in missing.items():
        file, where = route_at[skus[0]]
        more = _(" (and {n} more route(s) name it)").format(n=len(skus) - 1) if len(skus) > 1 else ""
        errors.append(ConfigError(file, f"{where}.{key}", _("supplier {name} has no file in suppliers/").format(
            name=repr(name)) + more + suggest(name, supplier_files)))


def load_config(directory: Path, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate everything; raise ConfigErrors listing every problem."""
    env = os.environ if env is None else env
    registry.load_builtin()
    errors: list[ConfigError] = []
    if not directory.is_dir():
        raise ConfigErrors([ConfigError(str(directory), "", "config directory does not exist")])
    check_top_level(directory, errors)
    global_ = GlobalConfig()
    graw = _load_single(directory, "syncd", env, errors)
    if graw:
        gname = (yaml_file(directory, "syncd", []) or Path("syncd.yaml")).name
        global_ = _validate(GlobalConfig, graw, gname, errors) or global_
    shops = _load_plugin_files(directory, "shops", "platform", registry.STOREFRONTS, env, errors)
    supplier_files: set[str] = set()
    suppliers = _load_plugin_files(directory, "suppliers", "kind", registry.SUPPLIERS, env, errors, supplier_files)
    route_at: dict[str, tuple[str, str]] = {}
    routes = load_routes(directory, env, errors, route_at)
    alerts, channels = _load_alerts(directory, env, errors)
    tracking = _load_tracking(directory, env, errors)
    _check_route_suppliers(routes, route_at, supplier_files, errors)
    has_tracking = yaml_file(directory, "tracking", []) is not None
    for sid, supplier in suppliers.items():
        source = getattr(supplier, "tracking_source", None)  # kinds with a trace of their own (1688) have it
        if source in ("provider", "both") and not has_tracking:
            errors.append(ConfigError(f"suppliers/{sid}.yaml", "tracking_source",
                                      f"{source!r} needs a tracking provider (tracking.yaml), found none; "
                                      "use 'supplier' or 'auto', or add tracking.yaml"))
    if not shops and not errors:
        errors.append(ConfigError("shops/", "", "no shop configured: add one file per shop"))
    if errors:
        raise ConfigErrors(errors)
    return Config(directory, global_, shops, suppliers, routes, alerts, channels, tracking)
