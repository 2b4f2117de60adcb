"""The shipped templates are a working configuration once their environment variables are set."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from syncd.config.loader import load_config

TEMPLATES = Path(__file__).resolve().parents[2] / "config" / "templates"
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def _dummy_env() -> dict[str, str]:
    """A value for every ``${NAME}`` the templates use: a URL for *_URL, else a long enough secret."""
    names = {n for p in TEMPLATES.rglob("*.yaml") for n in _REF.findall(p.read_text(encoding="utf-8"))}
    names.discard("NAME")  # the comments' "${NAME} is read from the environment"
    return {n: "https://hooks.example.com/t/123" if n.endswith("_URL") else f"dummy-{n.lower()}-0123456789"
            for n in names}


def test_templates_given_their_environment_load_without_a_problem(tmp_path: Path):
    d = tmp_path / "config"
    shutil.copytree(TEMPLATES, d)
    cfg = load_config(d, env=_dummy_env())
    assert set(cfg.shops) == {"douyin", "pdd", "taobao"}
    assert set(cfg.suppliers) == {"1688", "dropfolder", "webhook"}
    assert all(r.supplier in cfg.suppliers for r in cfg.routes.values())
    assert {"TEE-RED-M", "GIFT-SET", "SOCKS-2PACK", "MUG-WHITE"} <= set(cfg.routes)
    assert cfg.routes["SOCKS-2PACK"].multiplier == 2  # from routes.csv with its Chinese header


def test_templates_carry_the_schema_modeline_of_their_file():
    expected = {"syncd.yaml": "schema/syncd.schema.json", "alerts.yaml": "schema/alerts.schema.json",
                "tracking.yaml": "schema/tracking.schema.json", "routes.yaml": "schema/routes.schema.json"}
    expected |= {f"shops/{p.name}": "../schema/shop.schema.json" for p in (TEMPLATES / "shops").glob("*.yaml")}
    expected |= {f"suppliers/{p.name}": "../schema/supplier.schema.json"
                 for p in (TEMPLATES / "suppliers").glob("*.yaml")}
    for rel, schema in expected.items():
        first = (TEMPLATES / rel).read_text(encoding="utf-8").splitlines()[0]
        assert first == f"# yaml-language-server: $schema={schema}", rel
