"""The operators' manual (README.zh-CN.md) names only commands, options, alert rules and hold reasons that exist.

An operator copies commands from the manual and looks up an alert by the rule name the robot shows: a renamed
subcommand or a new rule must fail here until the manual follows.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from syncd.alerts.config import AlertsConfig
from syncd.alerts.names import Rule
from syncd.cli import build_parser
from syncd.lifecycle import HoldReason

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "README.zh-CN.md"

# `syncd [--config DIR] <subcommand> [<action>] [options…]`: "docker compose exec syncd syncd status" names the
# service first, so a "syncd" followed by another "syncd" is skipped. The options run to the end of the code span,
# the comment or the table cell.
COMMAND = re.compile(r"\bsyncd[ \t]+(?!syncd\b)(?:--config[ \t]+\S+[ \t]+)?([a-z][\w-]*)((?:[ \t]+[^\s`#|]+)*)")
OPTION = re.compile(r"(?<![\w-])--[a-z][\w-]*")


# argparse has no public walk of its subcommands and options: _actions is the documented-by-use way in.
def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return None


def _positional_choices(parser: argparse.ArgumentParser) -> set[str] | None:
    for action in parser._actions:
        if not action.option_strings and action.choices is not None \
                and not isinstance(action, argparse._SubParsersAction):
            return {str(c) for c in action.choices}
    return None


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for action in parser._actions for o in action.option_strings}


def check_commands(text: str, parser: argparse.ArgumentParser) -> list[str]:
    """Every ``syncd …`` command line in ``text`` that the parser would not take, with why."""
    top = _subcommands(parser) or {}
    problems: list[str] = []
    for m in COMMAND.finditer(text):
        name, rest = m.group(1), m.group(2).split()
        shown = " ".join(["syncd", name, *rest])
        sub = top.get(name)
        if sub is None:
            problems.append(f"{shown}: no subcommand {name!r} (known: {', '.join(sorted(top))})")
            continue
        target, words = sub, [w for w in rest if not w.startswith("-")]
        actions, choices = _subcommands(sub), _positional_choices(sub)
        if actions is not None and words and re.fullmatch(r"[a-z][\w-]*", words[0]):
            if words[0] not in actions:
                problems.append(f"{shown}: {name} has no action {words[0]!r} (known: {', '.join(sorted(actions))})")
                continue
            target = actions[words[0]]
        elif choices is not None and words and words[0] not in choices:
            problems.append(f"{shown}: {name} takes one of {', '.join(sorted(choices))}, not {words[0]!r}")
            continue
        known = _options(target) | _options(sub) | _options(parser)
        problems += [f"{shown}: no option {o}" for o in OPTION.findall(" ".join(rest)) if o not in known]
    return problems


def _table_rows(text: str, heading: str) -> dict[str, list[str]]:
    """The rows of the first table under ``heading``: first cell's `name` → the other cells."""
    section = text.split(heading, 1)[1]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if rows and not line.startswith("|"):
            break
        m = re.match(r"\|\s*`([\w-]+)`\s*\|(.*)\|\s*$", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in m.group(2).split("|")]
    return rows


@pytest.fixture(scope="module")
def manual() -> str:
    return MANUAL.read_text(encoding="utf-8")


def test_every_syncd_command_in_the_manual_exists_in_the_cli_parser_with_its_options(manual: str) -> None:
    found = COMMAND.findall(manual)
    assert len(found) >= 30, "the manual's commands were not found: the pattern no longer matches its style"
    assert check_commands(manual, build_parser()) == []


@pytest.mark.parametrize(("line", "why"), [
    ("`syncd orders archive --late`", "no action 'archive'"),
    ("`syncd order show 1`", "no subcommand 'order'"),
    ("`syncd purge --dryrun`", "no option --dryrun"),
    ("`syncd secrets make-key`", "takes one of"),
    ("docker compose exec syncd syncd stauts", "no subcommand 'stauts'"),
])
def test_a_command_the_cli_does_not_have_is_reported(line: str, why: str) -> None:
    problems = check_commands(line, build_parser())
    assert len(problems) == 1 and why in problems[0], problems


def test_every_alert_rule_has_a_row_saying_when_it_fires_and_what_to_do(manual: str) -> None:
    rows = _table_rows(manual, "## 6. 告警规则一览")
    assert set(rows) == {r.value for r in Rule}, "rules missing or unknown in the manual's table"
    for rule, cells in rows.items():
        assert len(cells) == 3 and all(len(c) >= 2 for c in cells), f"{rule}: severity, when, what to do"


def test_the_thresholds_the_alert_table_names_are_keys_of_alerts_yaml(manual: str) -> None:
    rows = _table_rows(manual, "## 6. 告警规则一览")
    keys = {k for cells in rows.values() for k in re.findall(r"`([a-z]+(?:_[a-z]+)+)`", " ".join(cells))}
    supplier_keys = {"ship_within_hours", "protocol_pay"}  # suppliers/<id>.yaml, not alerts.yaml
    unknown = {k for k in keys - supplier_keys
               if k not in AlertsConfig.model_fields and k not in {str(r) for r in HoldReason}}
    assert "no_pickup_warn_hours" in keys and unknown == set()


def test_every_hold_reason_has_a_row_saying_what_to_do(manual: str) -> None:
    rows = _table_rows(manual, "### 5.3 暂扣原因和处理")
    assert set(rows) == {r.value for r in HoldReason}
    assert all(len(cells) == 2 and all(cells) for cells in rows.values())


@pytest.mark.parametrize("doc", ["README.md", "README.zh-CN.md", "docs/benchmarks.md", "docs/internals.md"])
def test_local_links_point_at_files_that_exist(doc: str) -> None:
    path = ROOT / doc
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8"))
    local = [link for link in links if "://" not in link]
    assert local, f"{doc} links nowhere"
    assert [link for link in local if not (path.parent / link).exists()] == []


# Which file of a config directory each YAML example of the manual is, by a key only that file has.
EXAMPLE_FILES = {"intervals:": "syncd.yaml", "platform: douyin": "shops/douyin-main.yaml",
                 "kind: file": "suppliers/acme.yaml", "routes:": "routes.yaml",
                 "provider: kuaidi100": "tracking.yaml", "channels:": "alerts.yaml"}


def test_the_yaml_examples_of_the_manual_load_as_one_config_directory(manual: str, tmp_path: Path) -> None:
    from syncd.config.loader import load_config

    blocks = re.findall(r"```yaml\n(.*?)```", manual, re.S)
    placed: dict[str, str] = {}
    for block in blocks:
        names = [name for marker, name in EXAMPLE_FILES.items() if marker in block]
        assert len(names) == 1, f"which file is this example? {block[:80]!r}"
        placed[names[0]] = block
    assert set(placed) == set(EXAMPLE_FILES.values())
    for name, text in placed.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    # the routes example falls back from a webhook supplier the manual only describes
    (tmp_path / "suppliers" / "hz-erp.yaml").write_text(
        "kind: webhook\nname: 杭州某某仓\nbase_url: https://erp.example.com/api\nsecret: ${HZ_SECRET}\n"
        "tracking: poll\nstock: true\nship_within_hours: 48\n", encoding="utf-8")
    wanted = set(re.findall(r"\$\{([A-Z0-9_]+)\}", "".join(placed.values()))) | {"HZ_SECRET"}
    config = load_config(tmp_path, env=dict.fromkeys(wanted, "example-secret-0123456789"))
    assert set(config.shops) == {"douyin-main"} and set(config.suppliers) >= {"acme", "hz-erp"}
