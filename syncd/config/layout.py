"""What may be in the config directory, and "did you mean …" for names that are close to a known one.

A misspelt file is worse than a wrong value: ``route.yaml`` or a folder ``supplier/`` would simply not be
read, and the daemon would start without the routes or suppliers the operator believes it has. Every name
in the directory is therefore either known, ignored on purpose (hidden files, editor backups, notes), or
an error naming the closest known name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

from syncd.errors import ConfigError
from syncd.i18n import _

YAML_SUFFIXES = (".yaml", ".yml")
SINGLE_FILES = ("syncd", "alerts", "tracking")
"""Top-level YAML files, each as ``<name>.yaml`` or ``<name>.yml``."""
ROUTE_FILES = ("routes.yaml", "routes.yml", "routes.csv", "routes.xlsx")
FOLDERS = ("shops", "suppliers")
SCHEMA_FOLDER = "schema"
"""Where ``syncd config schema`` writes the JSON Schemas the templates' modelines point at."""
_IGNORED_SUFFIXES = ("~", ".bak", ".orig", ".md", ".txt")
"""Editor backups and the operator's notes: never configuration, never an error."""


def suggest(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest known name, or ``""`` when nothing is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return _("; did you mean {name}?").format(name=repr(close[0])) if close else ""


_TABLE_LOOKALIKES = (".xls", ".txt", ".tsv", ".et", ".ods", ".numbers")
"""What a routes table saved in the wrong format ends in (old Excel, Excel "Unicode text", WPS, LibreOffice)."""


def _ignored(path: Path) -> bool:
    return path.name.startswith(".") or path.name.lower().endswith(_IGNORED_SUFFIXES)


def _config_lookalike(path: Path) -> str | None:
    """The message for a file that is configuration in a form syncd does not read (``routes.xls``,
    ``alerts.txt``), where its suffix would otherwise be ignored or give a poor hint; None for anything else."""
    stem, _dot, suffix = path.name.lower().partition(".")
    suffix = f".{suffix}" if suffix else ""
    if stem in ("routes", "route") and suffix in _TABLE_LOOKALIKES:
        return _("syncd reads the routes table only as routes.csv or routes.xlsx: save it as one of them")
    if stem in (*SINGLE_FILES, "alert", "routes", "route") and suffix in (".txt", ".json", ".yaml.txt", ".yml.txt"):
        return _("unknown file, syncd does not read it") + suggest(f"{stem}.yaml", known_top_files())
    return None


def known_top_files() -> list[str]:
    return [f"{stem}{suffix}" for stem in SINGLE_FILES for suffix in YAML_SUFFIXES] + list(ROUTE_FILES)


def present(path: Path) -> bool:
    """A file to read: a regular file, or a link (a broken one is reported when read, not skipped)."""
    return path.is_symlink() or path.is_file()


def yaml_file(directory: Path, stem: str, errors: list[ConfigError]) -> Path | None:
    """``<stem>.yaml`` or ``<stem>.yml``; both present is an error (which one counts would be a guess)."""
    found = [directory / f"{stem}{s}" for s in YAML_SUFFIXES
             if present(directory / f"{stem}{s}") and not (directory / f"{stem}{s}").is_dir()]
    if len(found) > 1:
        errors.append(ConfigError(f"{stem}.yml", "", _("{name} exists too: keep one of the two files").format(
            name=f"{stem}.yaml")))
    return found[0] if found else None


def check_top_level(directory: Path, errors: list[ConfigError]) -> None:
    """An error for every file or folder of the config directory that syncd would not read."""
    files, folders = known_top_files(), [f"{f}/" for f in (*FOLDERS, SCHEMA_FOLDER)]
    for path in sorted(directory.iterdir()):
        lookalike = _config_lookalike(path) if path.is_file() and not path.name.startswith(".") else None
        if lookalike:
            errors.append(ConfigError(path.name, "", lookalike))
            continue
        if _ignored(path):
            continue
        if path.is_dir():
            if path.name in FOLDERS or path.name == SCHEMA_FOLDER:
                continue
            name = f"{path.name}/"
            errors.append(ConfigError(name, "", _("unknown folder, syncd does not read it") + (
                suggest(name, folders) or _("; expected {names}").format(names=", ".join(folders)))))
        elif path.name not in files:
            hint = suggest(path.name, files) or suggest(path.name.lower(), files)
            errors.append(ConfigError(path.name, "", _("unknown file, syncd does not read it") + (
                hint or _("; expected {names}").format(names=", ".join([*files, "shops/", "suppliers/"])))))


def folder_files(directory: Path, sub: str, errors: list[ConfigError]) -> list[Path]:
    """The YAML files of ``shops/`` or ``suppliers/``; anything else there is an error."""
    folder = directory / sub
    out: list[Path] = []
    if not folder.is_dir():
        return out
    for path in sorted(folder.iterdir()):
        if _ignored(path):
            continue
        if path.suffix in YAML_SUFFIXES and not path.is_dir():
            out.append(path)  # a broken link too: reading it says so
        elif path.is_dir():
            errors.append(ConfigError(f"{sub}/{path.name}/", "", _(
                "a folder inside {folder}/ is not read: put one <id>.yaml per {kind} directly in {folder}/").format(
                folder=sub, kind=sub[:-1])))
        else:
            errors.append(ConfigError(f"{sub}/{path.name}", "", _(
                "not read: files in {folder}/ must end in .yaml or .yml").format(folder=sub)))
    return out
