"""docker-compose.yml runs a real shop: secrets only from .env, a required database password, the two ports
published as documented, and the drop folders on a host folder a supplier can reach."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(TEXT)
SYNCD = COMPOSE["services"]["syncd"]
DB = COMPOSE["services"]["db"]
SECRETISH = re.compile(r"SECRET|TOKEN|PASSWORD|KEY|SESSION|SALT|AUTH|WEBHOOK_URL")
REQUIRED_PASSWORD = "${POSTGRES_PASSWORD:?"


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _env_example() -> dict[str, str]:
    """Every NAME of .env.example, commented out or not, with its value."""
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    return dict(m.groups() for ln in lines if (m := re.match(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)$", ln)))


def test_syncd_reads_its_secrets_from_the_env_file_and_the_compose_file_holds_none():
    assert SYNCD["env_file"] in (".env", [".env"])
    for service in (SYNCD, DB):
        for name, value in _environment(service).items():
            if SECRETISH.search(name) or "://" in value:
                # no literal secret: a secret is a reference to .env, never a value written here
                assert "${" in value, f"{name} has a value written in docker-compose.yml"
    assert set(_environment(SYNCD)) == {"SYNCD_DATABASE_URL"}, "the other secrets come from env_file"


def test_the_database_password_is_required_and_has_no_default():
    assert "change-me" not in TEXT
    assert _environment(DB)["POSTGRES_PASSWORD"].startswith(REQUIRED_PASSWORD)
    assert REQUIRED_PASSWORD in _environment(SYNCD)["SYNCD_DATABASE_URL"]
    assert not re.search(r"\$\{POSTGRES_PASSWORD:?-", TEXT), "a default would start the database without one"


def test_admin_port_is_published_on_the_hosts_loopback_only_and_the_callback_port_to_the_world():
    ports = [str(p) for p in SYNCD["ports"]]
    admin = [p for p in ports if p.endswith(":8080")]
    callback = [p for p in ports if p.endswith(":8081")]
    assert admin == ["127.0.0.1:8080:8080"]
    assert len(callback) == 1 and not callback[0].startswith("127.0.0.1:")


def test_the_drop_folders_are_a_host_folder_that_must_exist():
    binds = [v for v in SYNCD["volumes"] if isinstance(v, dict) and v.get("type") == "bind"]
    (suppliers,) = [v for v in binds if v["target"] == "/data/suppliers"]
    assert suppliers["source"].startswith("./")
    assert suppliers["bind"]["create_host_path"] is False  # not created as root, which syncd could not write
    assert "./config:/config:ro" in SYNCD["volumes"]


def test_env_example_names_every_secret_the_templates_refer_to_and_sets_none():
    wanted = {m for f in (ROOT / "config" / "templates").rglob("*.yaml")
              for m in re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", f.read_text(encoding="utf-8"))} - {"NAME"}
    example = _env_example()
    assert wanted and wanted <= set(example), sorted(wanted - set(example))
    assert {"POSTGRES_PASSWORD", "SYNCD_SECRET_KEY"} <= set(example)
    assert all(example[name] == "" for name in wanted | {"POSTGRES_PASSWORD", "SYNCD_SECRET_KEY"})


def test_the_env_file_is_never_committed_nor_sent_to_the_image():
    assert ".env" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
