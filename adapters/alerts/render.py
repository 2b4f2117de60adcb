"""Message → each service's body, within the service's size limit (reference §E.1–E.6).

Pure functions. A message too long for a service keeps its first lines whole and ends with
``… N more`` for the rest: a line is never cut in the middle, and nothing is ever cut inside a UTF-8
character (only an over-long title is shortened, at a character boundary, with ``…``). Sizes are
counted in bytes of exactly what is sent: the whole JSON body (compact, UTF-8, CJK unescaped) where
the service limits the request, the content string where it limits the content (WeCom).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from syncd.domain import Message, Severity
from syncd.i18n import N_, _, ngettext

T = TypeVar("T")

TITLE_MAX_BYTES = 512
DINGTALK_MAX_BYTES = 19_985  # requests over about 20 000 bytes are refused (apprise measured 19 985)
WECOM_MARKDOWN_MAX_BYTES = 4096  # markdown.content
WECOM_TEXT_MAX_BYTES = 2048  # text.content
FEISHU_MAX_BYTES = 20_000  # request body ≤ 20 KB
SLACK_MAX_BYTES = 40_000  # our own bound: Slack truncates longer texts
EMAIL_MAX_BYTES = 100_000  # our own bound on plain text + HTML
# ',"timestamp":"1700000000","sign":"<44 chars of Base64>"' added to a signed Feishu body after rendering
FEISHU_SIGN_RESERVE = 96

# the severity in front of each title, translated where it is shown (syncd.i18n)
LABELS = {Severity.INFO: N_("INFO"), Severity.WARNING: N_("WARNING"), Severity.CRITICAL: N_("CRITICAL")}
_WECOM_COLORS = {Severity.INFO: "info", Severity.WARNING: "warning", Severity.CRITICAL: "warning"}


def label(severity: Severity) -> str:
    """``CRITICAL`` / ``严重``: the severity as shown in front of a title."""
    return _(LABELS[severity])


def more_line(omitted: int) -> str:
    """The last line of a shortened message."""
    return ngettext("… {count} more", "… {count} more", omitted).format(count=omitted)


def clip(text: str, max_bytes: int) -> str:
    """``text`` in at most ``max_bytes`` bytes of UTF-8, cut at a character boundary and marked ``…``."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    mark = "…"
    head = data[: max(0, max_bytes - len(mark.encode()))].decode("utf-8", errors="ignore")
    return head + mark


def encode_json(body: Any) -> bytes:
    """The exact bytes sent for a JSON body (and measured against the limit)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def single_lines(lines: Sequence[str]) -> list[str]:
    """Each line on one line: a newline inside an item would break the list it is rendered in."""
    return [" ".join(str(line).split("\n")).replace("\r", " ") for line in lines]


def fit(lines: Sequence[str], build: Callable[[Sequence[str], int], T], measure: Callable[[T], int],
        limit: int) -> T:
    """``build(kept_lines, omitted)`` with as many leading lines as keep ``measure`` within ``limit``.

    Raises ValueError when not even the title with ``… N more`` fits (a limit far too small)."""
    whole = build(lines, 0)
    if measure(whole) <= limit:
        return whole
    n = len(lines)
    if measure(build((), n)) > limit:
        raise ValueError(f"a limit of {limit} bytes cannot hold even the title")
    lo, hi = 0, n - 1  # largest k in [lo, hi] whose k lines + "… n-k more" fit (size grows with k)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(build(lines[:mid], n - mid)) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return build(lines[:lo], n - lo)


def headline(message: Message, keyword: str | None = None) -> str:
    """``[SEVERITY] title`` (title clipped), with the robot's keyword in front when the title lacks it."""
    title = " ".join(message.title.split()) or _("(no title)")
    if keyword and keyword not in title:
        title = f"{keyword} {title}"
    return clip(f"[{label(message.severity)}] {title}", TITLE_MAX_BYTES)


def _json_size(body: Any) -> int:
    return len(encode_json(body))


def _with_more(lines: Sequence[str], omitted: int, bullet: str = "") -> list[str]:
    out = [f"{bullet}{line}" for line in lines]
    if omitted:
        out.append(more_line(omitted))
    return out


# ---- DingTalk ---------------------------------------------------------------------------------------


def dingtalk(message: Message, *, msgtype: str, keyword: str | None, mobiles: Sequence[str] = (),
             user_ids: Sequence[str] = (), at_all: bool = False, limit: int = DINGTALK_MAX_BYTES) -> dict[str, Any]:
    """``{"msgtype": "markdown"|"text", …, "at": {…}}``; markdown names the mentioned in its text, as
    DingTalk requires for the @ to show."""
    head = headline(message, keyword)
    at = {"atMobiles": list(mobiles), "atUserIds": list(user_ids), "isAtAll": at_all}
    tags = " ".join(f"@{who}" for who in (*mobiles, *user_ids))

    def build(lines: Sequence[str], omitted: int) -> dict[str, Any]:
        if msgtype == "markdown":
            items = [f"- {line}" for line in lines] + (["", more_line(omitted)] if omitted else [])
            text = "\n".join([f"#### {head}", "", *items] + (["", tags] if tags else []))
            return {"msgtype": "markdown", "markdown": {"title": head, "text": text}, "at": at}
        content = "\n".join([head, *_with_more(lines, omitted)] + ([tags] if tags else []))
        return {"msgtype": "text", "text": {"content": content}, "at": at}

    return fit(single_lines(message.lines), build, _json_size, limit)


# ---- WeCom ------------------------------------------------------------------------------------------


def wecom(message: Message, *, msgtype: str, user_ids: Sequence[str] = (), mobiles: Sequence[str] = (),
          at_all: bool = False, limit: int | None = None) -> dict[str, Any]:
    """WeCom markdown (content ≤ 4096 bytes, ``<@userid>`` mentions) or text (≤ 2048 bytes, mention lists)."""
    if msgtype == "markdown":
        color = _WECOM_COLORS[message.severity]
        title = headline(message).split("] ", 1)[1]
        head = f'**<font color="{color}">[{label(message.severity)}]</font> {title}**'
        tags = " ".join(f"<@{who}>" for who in user_ids)

        def build_md(lines: Sequence[str], omitted: int) -> dict[str, Any]:
            content = "\n".join([head, *_with_more(lines, omitted)] + ([tags] if tags else []))
            return {"msgtype": "markdown", "markdown": {"content": content}}

        return fit(single_lines(message.lines), build_md, lambda b: len(b["markdown"]["content"].encode()),
                   limit or WECOM_MARKDOWN_MAX_BYTES)

    mentioned = [*user_ids, *(["@all"] if at_all else [])]

    def build_text(lines: Sequence[str], omitted: int) -> dict[str, Any]:
        text: dict[str, Any] = {"content": "\n".join([headline(message), *_with_more(lines, omitted)])}
        if mentioned:
            text["mentioned_list"] = mentioned
        if mobiles:
            text["mentioned_mobile_list"] = list(mobiles)
        return {"msgtype": "text", "text": text}

    return fit(single_lines(message.lines), build_text, lambda b: len(b["text"]["content"].encode()),
               limit or WECOM_TEXT_MAX_BYTES)


# ---- Feishu / Lark ----------------------------------------------------------------------------------


def feishu(message: Message, *, msg_type: str, keyword: str | None, user_ids: Sequence[str] = (),
           at_all: bool = False, limit: int = FEISHU_MAX_BYTES) -> dict[str, Any]:
    """Feishu ``post`` (rich text with a title) or ``text``; room is kept for ``timestamp`` and ``sign``."""
    head = headline(message, keyword)
    who = [*user_ids, *(["all"] if at_all else [])]

    def build(lines: Sequence[str], omitted: int) -> dict[str, Any]:
        if msg_type == "post":
            paragraphs: list[list[dict[str, str]]] = [[{"tag": "text", "text": line}]
                                                      for line in _with_more(lines, omitted)]
            if who:
                paragraphs.append([{"tag": "at", "user_id": u} for u in who])
            return {"msg_type": "post", "content": {"post": {"zh_cn": {"title": head, "content": paragraphs}}}}
        tags = " ".join('<at user_id="all">所有人</at>' if u == "all" else f'<at user_id="{u}"></at>' for u in who)
        text = "\n".join([head, *_with_more(lines, omitted)] + ([tags] if tags else []))
        return {"msg_type": "text", "content": {"text": text}}

    return fit(single_lines(message.lines), build, lambda b: _json_size(b) + FEISHU_SIGN_RESERVE, limit)


# ---- Slack ------------------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack mrkdwn control characters: ``&``, ``<``, ``>`` (a ``<`` would start a link or a mention)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(message: Message, *, user_ids: Sequence[str] = (), at_all: bool = False,
          limit: int = SLACK_MAX_BYTES) -> dict[str, Any]:
    """``{"text": mrkdwn}``: the headline bold, one bullet per line, then the mentions."""
    head = f"*{slack_escape(headline(message))}*"
    tags = " ".join([*(f"<@{u}>" for u in user_ids), *(["<!channel>"] if at_all else [])])

    def build(lines: Sequence[str], omitted: int) -> dict[str, Any]:
        body = _with_more([slack_escape(line) for line in lines], omitted, "• ")
        return {"text": "\n".join([head, *body] + ([tags] if tags else []))}

    return fit(single_lines(message.lines), build, _json_size, limit)


# ---- email ------------------------------------------------------------------------------------------


def email(message: Message, *, subject_prefix: str, limit: int = EMAIL_MAX_BYTES) -> tuple[str, str, str]:
    """(subject, plain text, HTML); the limit holds for the two bodies together."""
    head = headline(message)
    subject = f"{subject_prefix} {head}".strip()

    def build(lines: Sequence[str], omitted: int) -> tuple[str, str]:
        plain = "\n".join([head, "", *(f"- {line}" for line in lines), *([more_line(omitted)] if omitted else [])])
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        more = f"<p>{html.escape(more_line(omitted))}</p>" if omitted else ""
        page = (f'<html><body><h3>{html.escape(head)}</h3><ul>{items}</ul>{more}'
                f'<p style="color:#888">syncd</p></body></html>')
        return plain, page

    plain, page = fit(single_lines(message.lines), build, lambda b: len(b[0].encode()) + len(b[1].encode()), limit)
    return subject, plain, page


# ---- generic webhook --------------------------------------------------------------------------------


def webhook(message: Message, *, sent_at: str, limit: int) -> dict[str, Any]:
    """``{"title", "severity", "lines", "text", "sent_at"}``; a shortened list ends with ``… N more``."""
    title = clip(" ".join(message.title.split()), TITLE_MAX_BYTES)

    def build(lines: Sequence[str], omitted: int) -> dict[str, Any]:
        kept = _with_more(lines, omitted)
        text = "\n".join([headline(message), *(f"- {line}" for line in lines),
                          *([more_line(omitted)] if omitted else [])])
        return {"title": title, "severity": message.severity.value, "lines": kept, "text": text, "sent_at": sent_at}

    return fit(single_lines(message.lines), build, _json_size, limit)
