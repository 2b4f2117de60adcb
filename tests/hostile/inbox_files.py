"""Builders of hostile reply files (the attacks of issue 16.2) and a peak-memory probe.

Run as a script to measure the peak memory of reading each one, in a fresh child process per file
(peak RSS, what a container's memory limit sees) and with tracemalloc (Python's own allocations):

    PYTHONPATH=. python -m tests.hostile.inbox_files
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MB = 1024 * 1024

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    '</Types>')
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'sharedStrings" Target="sharedStrings.xml"/></Relationships>')
_SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
               '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
_SHEET_TAIL = "</sheetData></worksheet>"
_HEADER_ROW = ('<row r="1"><c r="A1" t="inlineStr"><is><t>订单号</t></is></c>'
               '<c r="B1" t="inlineStr"><is><t>快递公司</t></is></c>'
               '<c r="C1" t="inlineStr"><is><t>快递单号</t></is></c></row>')


def _row(r: int) -> str:
    return (f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>69{r:017d}</t></is></c>'
            f'<c r="B{r}" t="inlineStr"><is><t>中通</t></is></c>'
            f'<c r="C{r}" t="inlineStr"><is><t>7{r:013d}</t></is></c></row>')


def _workbook(path: Path, sheet: Callable[[zipfile.ZipFile], None], shared: Callable[[zipfile.ZipFile], None]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _ROOT_RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        shared(zf)
        sheet(zf)
    return path


def _empty_shared(zf: zipfile.ZipFile) -> None:
    zf.writestr("xl/sharedStrings.xml", '<?xml version="1.0" encoding="UTF-8"?>'
                '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="0" uniqueCount="0"/>')


def zip_bomb_xlsx(path: Path, unpacked_mb: int = 312) -> Path:
    """A small .xlsx whose one sheet unpacks to ``unpacked_mb`` of rows (the same row over and over)."""
    def sheet(zf: zipfile.ZipFile) -> None:
        row = _row(2).encode()
        block = row * (MB // len(row))
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            out.write((_SHEET_HEAD + _HEADER_ROW).encode())
            for _ in range(unpacked_mb):
                out.write(block)
            out.write(_SHEET_TAIL.encode())

    return _workbook(path, sheet, _empty_shared)


def huge_shared_string_xlsx(path: Path, string_mb: int = 1536, varied: bool = False) -> Path:
    """A small .xlsx with one shared string of ``string_mb`` MB (the sheet refers to it once).

    ``varied``: random letters, which hardly compress (so no ratio check catches it)."""
    def shared(zf: zipfile.ZipFile) -> None:
        with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            out.write(b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
                      b'spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>')
            block = os.urandom(MB // 2).hex().encode() if varied else b"A" * MB
            for _ in range(string_mb):
                out.write(block)
            out.write(b"</t></si></sst>")

    def sheet(zf: zipfile.ZipFile) -> None:
        zf.writestr("xl/worksheets/sheet1.xml", _SHEET_HEAD + _HEADER_ROW
                    + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>' + _SHEET_TAIL)

    return _workbook(path, sheet, shared)


def many_styles_xlsx(path: Path, styles: int = 80_000) -> Path:
    """An .xlsx whose styles.xml holds ``styles`` varied cell formats (openpyxl makes an object of each)."""
    rng = random.Random(7)

    def shared(zf: zipfile.ZipFile) -> None:
        _empty_shared(zf)
        xfs = "".join(f'<xf numFmtId="{rng.randrange(200)}" fontId="{rng.randrange(9999)}" fillId="0" '
                      f'borderId="0" xfId="{rng.randrange(999)}"/>' for _ in range(styles))
        zf.writestr("xl/styles.xml", '<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.'
                    f'openxmlformats.org/spreadsheetml/2006/main"><cellXfs count="{styles}">{xfs}</cellXfs>'
                    "</styleSheet>")

    def sheet(zf: zipfile.ZipFile) -> None:
        zf.writestr("xl/worksheets/sheet1.xml", _SHEET_HEAD + _HEADER_ROW + _SHEET_TAIL)

    return _workbook(path, sheet, shared)


def tiny_strings_xlsx(path: Path, strings_mb: float = 7.5) -> Path:
    """An .xlsx whose shared strings are ``strings_mb`` of tiny distinct texts (each costs ~60 bytes held)."""
    rng = random.Random(7)

    def shared(zf: zipfile.ZipFile) -> None:
        with zf.open("xl/sharedStrings.xml", "w") as out:
            out.write(b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
                      b'spreadsheetml/2006/main">')
            written = 0
            while written < strings_mb * MB:
                block = b"".join(b"<si><t>%06x</t></si>" % rng.randrange(1 << 24) for _ in range(10_000))
                out.write(block)
                written += len(block)
            out.write(b"</sst>")

    def sheet(zf: zipfile.ZipFile) -> None:
        zf.writestr("xl/worksheets/sheet1.xml", _SHEET_HEAD + _HEADER_ROW + _SHEET_TAIL)

    return _workbook(path, sheet, shared)


def wide_row_xlsx(path: Path, cells: int = 2_000_000) -> Path:
    """An .xlsx with one row of millions of empty cells (openpyxl builds a row whole before yielding it)."""
    def sheet(zf: zipfile.ZipFile) -> None:
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            out.write((_SHEET_HEAD + _HEADER_ROW + '<row r="2">').encode())
            out.write(b'<c r="A2"/>' * cells)
            out.write(("</row>" + _SHEET_TAIL).encode())

    return _workbook(path, sheet, _empty_shared)


def bad_rows_xlsx(path: Path, rows: int = 5000) -> Path:
    """A valid .xlsx of ``rows`` rows, every one wrong (a carrier nobody knows)."""
    def sheet(zf: zipfile.ZipFile) -> None:
        body = "".join(_row(r).replace("中通", "火星快递") for r in range(2, rows + 2))
        zf.writestr("xl/worksheets/sheet1.xml", _SHEET_HEAD + _HEADER_ROW + body + _SHEET_TAIL)

    return _workbook(path, sheet, _empty_shared)


def huge_csv(path: Path, size_mb: int = 49) -> Path:
    """A CSV of ``size_mb`` MB: a header, then rows that each fail (4.7 million error rows once)."""
    line = b"6900000000000000001,\xe7\x81\xab\xe6\x98\x9f,X\r\n"  # 火星 (unknown carrier), a bad tracking number
    block = line * (MB // len(line))
    with open(path, "wb") as out:
        out.write("订单号,快递公司,快递单号\r\n".encode())
        for _ in range(size_mb):
            out.write(block)
    return path


def one_line_csv(path: Path, size_mb: int = 49) -> Path:
    """A CSV that is one line of ``size_mb`` MB (no line break at all)."""
    with open(path, "wb") as out:
        out.write("订单号,快递公司,快递单号\r\n".encode())
        block = b"x" * MB
        for _ in range(size_mb):
            out.write(block)
    return path


def wide_table(rows: int, columns: int) -> list[list[str]]:
    """A valid reply table at the limits: ``rows`` rows of ``columns`` distinct short cells."""
    header = ["订单号", "快递公司", "快递单号", *(f"列{c}" for c in range(3, columns))]
    body = [[f"69{r:017d}", "中通", f"7{r:013d}", *(f"{r % 9973}.{c}" for c in range(3, columns))]
            for r in range(rows)]
    return [header, *body]


def rows_at_limit_xlsx(path: Path, rows: int = 6000, columns: int = 64) -> Path:
    """A valid .xlsx near the default limits (6,000 rows of 64 columns, 384,000 cells): all of it is kept."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("回单")
    for values in wide_table(rows, columns):
        ws.append(values)
    wb.save(path)
    return path


def rows_at_limit_csv(path: Path, rows: int = 6000, columns: int = 64) -> Path:
    """The same table as a CSV."""
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        for values in wide_table(rows, columns):
            out.write(",".join(values) + "\r\n")
    return path


def dense_sheet_xlsx(path: Path, unpacked_mb: int = 95) -> Path:
    """An .xlsx whose sheet unpacks to ``unpacked_mb`` of valid, varied rows: it passes every zip check
    (ratio about 10), so only the row limit stops the reading."""
    def sheet(zf: zipfile.ZipFile) -> None:
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            out.write((_SHEET_HEAD + _HEADER_ROW).encode())
            written, r = 0, 2
            while written < unpacked_mb * MB:
                chunk = "".join(_row(i) for i in range(r, r + 5000)).encode()
                out.write(chunk)
                written += len(chunk)
                r += 5000
            out.write(_SHEET_TAIL.encode())

    return _workbook(path, sheet, _empty_shared)


def valid_csv(path: Path, size_mb: int = 49) -> Path:
    """A CSV of ``size_mb`` MB of valid rows: only the row limit stops the reading."""
    with open(path, "wb") as out:
        out.write("订单号,快递公司,快递单号\r\n".encode())
        r = 0
        while out.tell() < size_mb * MB:
            out.write("".join(f"69{i:017d},中通,7{i:013d}\r\n" for i in range(r, r + 10000)).encode())
            r += 10000
    return path


def everything_at_limit_xlsx(path: Path, rows: int = 6000, columns: int = 64, strings: int = 199_000,
                             styles: int = 19_000) -> Path:
    """Every default limit nearly reached in one workbook: ``strings`` tiny shared strings, ``styles``
    formats, and ``rows`` × ``columns`` cells that refer to the strings (all of them kept)."""
    rng = random.Random(7)

    def shared(zf: zipfile.ZipFile) -> None:
        with zf.open("xl/sharedStrings.xml", "w") as out:
            out.write(b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
                      b'spreadsheetml/2006/main"><si><t>\xe8\xae\xa2\xe5\x8d\x95\xe5\x8f\xb7</t></si>'
                      b"<si><t>\xe5\xbf\xab\xe9\x80\x92\xe5\x85\xac\xe5\x8f\xb8</t></si>"
                      b"<si><t>\xe5\xbf\xab\xe9\x80\x92\xe5\x8d\x95\xe5\x8f\xb7</t></si>"
                      b"<si><t>\xe4\xb8\xad\xe9\x80\x9a</t></si>")  # 订单号 快递公司 快递单号 中通
            for start in range(4, strings, 10_000):
                out.write(b"".join(b"<si><t>%06x</t></si>" % rng.randrange(1 << 24)
                                   for _ in range(start, min(start + 10_000, strings))))
            out.write(b"</sst>")
        xfs = "".join(f'<xf numFmtId="{rng.randrange(200)}" fontId="{rng.randrange(9999)}"/>' for _ in range(styles))
        zf.writestr("xl/styles.xml", '<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.'
                    f'openxmlformats.org/spreadsheetml/2006/main"><cellXfs count="{styles}">{xfs}</cellXfs>'
                    "</styleSheet>")

    def sheet(zf: zipfile.ZipFile) -> None:
        from openpyxl.utils import get_column_letter

        letters = [get_column_letter(c) for c in range(1, columns + 1)]
        with zf.open("xl/worksheets/sheet1.xml", "w") as out:
            out.write(_SHEET_HEAD.encode())
            out.write(('<row r="1">' + "".join(f'<c r="{letters[c]}1" t="s"><v>{c if c < 3 else 4 + c}</v></c>'
                                               for c in range(columns)) + "</row>").encode())
            for r in range(2, rows + 2):
                out.write((f'<row r="{r}">' + "".join(
                    f'<c r="{letters[c]}{r}" t="s"><v>{3 if c == 1 else rng.randrange(4, strings)}</v></c>'
                    for c in range(columns)) + "</row>").encode())
            out.write(_SHEET_TAIL.encode())

    return _workbook(path, sheet, shared)


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "zip_bomb.xlsx": zip_bomb_xlsx,
    "huge_shared_string.xlsx": huge_shared_string_xlsx,
    "wide_row.xlsx": wide_row_xlsx,
    "many_styles.xlsx": many_styles_xlsx,
    "tiny_strings.xlsx": tiny_strings_xlsx,
    "bad_rows.xlsx": bad_rows_xlsx,
    "huge.csv": huge_csv,
    "one_line.csv": one_line_csv,
    "valid_49mb.csv": valid_csv,
    "dense_sheet.xlsx": dense_sheet_xlsx,
    "rows_at_limit.xlsx": rows_at_limit_xlsx,
    "rows_at_limit.csv": rows_at_limit_csv,
    "everything_at_limit.xlsx": everything_at_limit_xlsx,
}


def read_file(path: Path, max_file_mb: float = 64) -> tuple[str | None, int, int]:
    """Parse one file as the drop folder does: (file error, rows accepted, rows rejected)."""
    from syncd.adapters.dropfolder.config import InboxLimits
    from syncd.adapters.dropfolder.inbox import parse_inbox
    from syncd.domain import InboxFile

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MB), b""):
            digest.update(chunk)
    file = InboxFile(name=path.name, path=str(path), sha256=digest.hexdigest(), size=path.stat().st_size)
    parsed = parse_inbox(file, limits=InboxLimits(max_file_mb=max_file_mb))
    return parsed.file_error, len(parsed.rows), len(parsed.errors)


def peak_rss_kb() -> int:
    """This process's peak resident memory in KiB. VmHWM where Linux has it: ``ru_maxrss`` keeps the peak
    of the process that forked it (pytest, say) across ``exec``."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(path: str, max_file_mb: float, as_json: bool = False) -> None:
    import syncd.adapters.dropfolder.inbox  # noqa: F401 - imports are the baseline, not the file
    base = peak_rss_kb()
    started = time.monotonic()
    error, ok, bad = read_file(Path(path), max_file_mb)
    seconds = time.monotonic() - started
    rss = peak_rss_kb()  # before tracemalloc, whose traces cost memory
    if as_json:
        print(json.dumps({"maxrss_mb": rss / 1024, "imports_mb": base / 1024, "error": error, "rows": ok,
                          "rejected": bad, "seconds": seconds}))
        return
    tracemalloc.start()
    read_file(Path(path), max_file_mb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{Path(path).name:24} {os.path.getsize(path) / MB:5.1f} MB  maxrss {rss / 1024:5.1f} MB "
          f"(+{(rss - base) / 1024:5.1f} over imports)  tracemalloc peak {peak / MB:5.1f} MB  "
          f"{seconds:5.1f} s  rows {ok}/{bad}  {(error or 'read')[:80]}")


def measure_in_child(path: Path, max_file_mb: float = 20) -> dict[str, Any]:
    """Read ``path`` in a fresh Python process; its peak RSS (what a container limit sees) and result."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-m", "tests.hostile.inbox_files", "--child-json", str(path),
                          str(max_file_mb)], check=True, capture_output=True, text=True, env=env, cwd=root)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Build each hostile file in a temporary folder and measure reading it in a fresh process."""
    if len(sys.argv) == 4 and sys.argv[1] in ("--child", "--child-json"):
        _child(sys.argv[2], float(sys.argv[3]), as_json=sys.argv[1] == "--child-json")
        return
    wanted = set(sys.argv[1:]) or set(BUILDERS)
    max_file_mb = float(os.environ.get("MAX_FILE_MB", "64"))  # above the 49 MB CSV, to exercise streaming
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in BUILDERS.items():
            if name not in wanted:
                continue
            path = build(Path(tmp) / name)
            subprocess.run([sys.executable, "-m", "tests.hostile.inbox_files", "--child", str(path),
                            str(max_file_mb)], check=True)
            path.unlink()


if __name__ == "__main__":
    main()
