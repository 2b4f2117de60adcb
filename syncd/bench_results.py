"""A bench run as a document: machine, date, commit, workload and figures — to a JSON file, against an earlier
one, and as the table docs/benchmarks.md keeps per run.

``syncd bench ... --json run.json`` writes the document; ``--compare old.json`` prints, for every figure both
runs have, the old value, the new one and the change. Only numbers are compared (nested figures by their dotted
path, ``cpu_ms_per_order_by_stage.pull``); a figure one run lacks is listed as added or gone.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from syncd import clock

FORMAT = 1
# the figures one table row of docs/benchmarks.md shows, in this order (when the run has them)
HEADLINE = ("orders", "wall_seconds", "orders_per_second", "cpu_ms_per_order", "peak_rss_mb",
            "db_statements_per_order", "floor_cpu_ms_per_order", "cpu_multiple_of_floor", "cpu_multiple_of_core")


def machine() -> dict[str, Any]:
    """What the figures were measured on (the CPU model, cores, memory, OS and Python)."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_mb = 0
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                mem_mb = int(line.split()[1]) // 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = -1.0
    return {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count() or 0, "memory_mb": mem_mb,
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "load_at_start": round(load, 2)}


def commit() -> str:
    """The code measured: the short commit, ``+dirty`` when the work tree has changes."""
    here = Path(__file__).resolve().parent.parent
    try:
        # git with fixed arguments, in our own tree
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,  # noqa: S607
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,  # noqa: S607
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def document(workload: dict[str, Any], figures: dict[str, Any], load_at_start: float | None = None) -> dict[str, Any]:
    box = machine()
    if load_at_start is not None:
        box["load_at_start"] = round(load_at_start, 2)
    doc = {"format": FORMAT, "machine": box, "date": clock.now().isoformat(timespec="seconds"),
           "commit": commit(), "command": " ".join(["syncd", *sys.argv[1:]]), "workload": workload,
           "figures": figures}
    return doc


def write(path: str | Path, doc: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def load(path: str | Path) -> dict[str, Any]:
    """An earlier run's document; a file that is not one is refused with its name and why."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SystemExit(f"syncd bench: cannot read {path}: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("figures"), dict):
        raise SystemExit(f"syncd bench: {path} is not a bench result (written by syncd bench --json)")
    return doc


def flatten(value: Any, prefix: str = "") -> dict[str, float]:
    """Every number in ``value`` by its dotted path; lists of rows with an ``api`` are keyed by it."""
    out: dict[str, float] = {}
    if isinstance(value, bool):
        return out
    if isinstance(value, int | float):
        out[prefix] = float(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            key = f"{v.get('system', '')} {v['api']}".strip() if isinstance(v, dict) and "api" in v else str(i)
            out.update(flatten(v, f"{prefix}[{key}]"))
    return out


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, float | None, float | None, float | None]]:
    """(figure, old, new, change as a fraction of old) for every figure that differs, added or gone."""
    a, b = flatten(old.get("figures", {})), flatten(new.get("figures", {}))
    rows: list[tuple[str, float | None, float | None, float | None]] = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if x == y:
            continue
        change = (y - x) / x if x is not None and y is not None and x != 0 else None
        rows.append((key, x, y, change))
    return rows


def format_compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    head = (f"Against {old.get('commit', '?')} of {old.get('date', '?')} on {old.get('machine', {}).get('cpu', '?')} "
            f"({old.get('command', '')}):")
    lines = [head]
    for key, x, y, change in compare(old, new):
        xs = "-" if x is None else f"{x:g}"
        ys = "-" if y is None else f"{y:g}"
        cs = "added" if x is None else "gone" if y is None else "" if change is None else f"{change:+.1%}"
        lines.append(f"  {key:<78} {xs:>12} -> {ys:<12} {cs}")
    if len(lines) == 1:
        lines.append("  (no figure differs)")
    return "\n".join(lines)


def markdown(doc: dict[str, Any]) -> str:
    """The run as docs/benchmarks.md keeps it: a heading, the machine, then one table of its figures."""
    m = doc["machine"]
    f = doc["figures"]
    lines = [f"### {doc['date'][:16].replace('T', ' ')} UTC, commit {doc['commit']}: `{doc['command']}`", "",
             f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory_mb', 0) // 1024} GB, "
             f"{m.get('os', '')}, Python {m.get('python', '')}; load {m.get('load_at_start', '?')} at the start.", "",
             "| figure | value |", "| --- | --- |"]
    for key in HEADLINE:
        if key in f:
            lines.append(f"| {key.replace('_', ' ')} | {f[key]} |")
    for key, value in sorted(flatten({k: v for k, v in f.items() if k not in HEADLINE}).items()):
        if "calls_vs_floor" in key and not key.endswith(".ratio"):
            continue
        lines.append(f"| {key.replace('_', ' ')} | {value:g} |")
    return "\n".join(lines)
