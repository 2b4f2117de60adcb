"""Supply chain (issue 16.6): the lock covers pyproject, the image installs from it, pinned and without the sandbox."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCK = (ROOT / "requirements.lock").read_text(encoding="utf-8")
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _name(requirement: str) -> str:
    """The PEP 503 normalised name of a requirement string."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _locked() -> dict[str, list[str]]:
    """Locked name → the hashes that follow its pin."""
    out: dict[str, list[str]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK):
        pin = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==\S+", block)
        if pin:
            out[_name(pin.group(1))] = re.findall(r"--hash=sha256:[0-9a-f]{64}", block)
    return out


def _instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_every_dependency_of_pyproject_and_its_build_backend_is_locked_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    locked = _locked()

    missing = [r for r in wanted if _name(r) not in locked]
    assert missing == [], "run `make lock` after changing pyproject.toml"
    assert all(locked[name] for name in locked), "every pin carries its hashes"


def test_the_libraries_the_daemon_needs_at_run_time_are_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {_name(r) for r in project["project"]["dependencies"]}
    # tzdata: Asia/Shanghai must never depend on the base image's zoneinfo files
    assert {"tzdata", "cryptography", "uvicorn", "starlette", "prometheus-client"} <= declared


def test_the_base_image_is_pinned_by_digest() -> None:
    froms = [i for i in _instructions() if i.upper().startswith("FROM ")]
    assert froms and all(re.search(r"@sha256:[0-9a-f]{64}\b", f) for f in froms)


def test_dependencies_install_from_the_lock_with_hashes_in_their_own_layer_before_the_source() -> None:
    steps = _instructions()
    lock_copy = next(n for n, i in enumerate(steps) if i.startswith("COPY") and "requirements.lock" in i)
    install = next(n for n, i in enumerate(steps) if i.startswith("RUN") and "--require-hashes" in i)
    first_source = next(n for n, i in enumerate(steps) if i.startswith("COPY") and re.search(r"\bsyncd\b", i))
    assert lock_copy < install < first_source
    # the project itself adds nothing the lock did not pin
    project_install = next(i for i in steps[first_source:] if i.startswith("RUN") and "pip install" in i)
    assert "--no-deps" in project_install and "--no-index" in project_install


def test_no_sandbox_configuration_goes_into_the_image() -> None:
    copies = [i for i in _instructions() if i.startswith(("COPY", "ADD"))]
    assert not any(re.search(r"\bconfig(/sandbox)?/?\s", i + " ") for i in copies), copies
    assert not any(i.split()[1] == "." for i in copies), "COPY . would bring everything in"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert "config/*" in ignored and "!config/sandbox" not in ignored
    assert "syncd/sandbox_config" in ignored  # the package's link to it


def _wheel(tmp_path: Path) -> Path:
    """A wheel built from a copy of the sources (nothing written into the repository), offline."""
    pytest.importorskip("setuptools", reason="the build backend must be installed to build offline")
    src = tmp_path / "src"
    for part in ("syncd", "adapters", "migrations", "config/sandbox"):
        shutil.copytree(ROOT / part, src / part, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("syncd-*.whl")
    return wheel


def test_installed_package_finds_the_sandbox_configuration_from_any_directory(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        shipped = {n for n in zf.namelist() if n.startswith("syncd/sandbox_config/")}
        zf.extractall(tmp_path / "site")
    sandbox = ROOT / "config" / "sandbox"
    wanted = {f"syncd/sandbox_config/{p.relative_to(sandbox).as_posix()}" for p in sandbox.rglob("*") if p.is_file()}
    assert wanted and shipped == wanted, "every file of config/sandbox is package data"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    found = subprocess.run(
        [sys.executable, "-c", "from syncd.sandboxrun import sandbox_config_dir; print(sandbox_config_dir())"],
        cwd=elsewhere, env={**os.environ, "PYTHONPATH": str(tmp_path / "site")}, check=True, capture_output=True,
        text=True, timeout=60).stdout.strip()
    assert Path(found) == (tmp_path / "site" / "syncd" / "sandbox_config").resolve()


def test_the_wheel_claims_no_top_level_name_but_syncd(tmp_path: Path) -> None:
    """adapters/ and migrations/ ship as syncd.adapters and syncd.migrations (issue 17): a site-packages with
    syncd installed has no ``adapters`` or ``migrations`` of ours to collide with another distribution's."""
    wheel = _wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        assert zf.read(top_level).decode().split() == ["syncd"]
        zf.extractall(tmp_path / "site")
    assert {n.split("/")[0] for n in names} == {"syncd", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1]
                                                + ".dist-info"}
    assert "syncd/adapters/builtin.py" in names and "syncd/migrations/env.py" in names
    assert any(n.startswith("syncd/migrations/versions/0001_") for n in names)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = ("import importlib.util as u, syncd.adapters.builtin, syncd.migrations as m; "
             "print(u.find_spec('adapters') is None, u.find_spec('migrations') is None, m.__file__)")
    out = subprocess.run([sys.executable, "-S", "-c", probe], cwd=elsewhere,
                         env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tmp_path / "site") + os.pathsep
                              + os.pathsep.join(p for p in sys.path if "site-packages" in p)},
                         check=True, capture_output=True, text=True, timeout=60).stdout.split()
    assert out[:2] == ["True", "True"] and out[2].startswith(str(tmp_path / "site"))
