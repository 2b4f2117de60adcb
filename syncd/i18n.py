"""The language and the time zone of everything a person reads: gettext bound to the active language.

Source texts are English msgids marked with :func:`_` / :func:`ngettext` (or :func:`N_` where a table keeps
them to translate later); the translations live in ``syncd/locale/<lang>/LC_MESSAGES/syncd.po``. The ``.po``
file is the only catalogue in the repository and in the installed package: it is read at first use through
Babel and turned into a standard :class:`gettext.GNUTranslations` in memory (cached), so a fresh clone or a
``pip install`` never lacks a compiled ``.mo``. A missing or broken catalogue is logged once and English is
shown instead: a translation problem never stops the daemon.

The active language and display zone are process-wide (the daemon's worker threads read them too):
:func:`activate` at start from ``syncd.yaml`` (``language``, ``timezone``), overridden by ``SYNCD_LANG``;
:func:`use` switches for a block (tests, rendering one message in another language).

    make messages    # extract the msgids, update the catalogues; then translate what is new
"""

from __future__ import annotations

import gettext
import io
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncd import clock

log = logging.getLogger("syncd.i18n")

DOMAIN = "syncd"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("zh-CN", "en")  # as written in syncd.yaml and SYNCD_LANG
DEFAULT_LANGUAGE = "zh-CN"
DEFAULT_TIMEZONE = "Asia/Shanghai"
ENV_LANG = "SYNCD_LANG"
_ALIASES = {"zh": "zh-CN", "zh-cn": "zh-CN", "zh_cn": "zh-CN", "zh-hans": "zh-CN", "zh_hans": "zh-CN",
            "en": "en", "en-us": "en", "en_us": "en", "en-gb": "en", "en_gb": "en"}


def normalize(language: str) -> str:
    """``zh_CN``, ``zh``, ``zh-Hans`` → ``zh-CN``; ``en_US`` → ``en``. Raises ValueError for anything else."""
    key = language.strip().lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown language {language!r}: expected one of {', '.join(LANGUAGES)}")
    return _ALIASES[key]


def _locale(language: str) -> str:
    """The catalogue's directory name: ``zh-CN`` → ``zh_CN``."""
    return language.replace("-", "_")


@lru_cache(maxsize=8)
def translations(language: str) -> gettext.NullTranslations:
    """The catalogue of ``language`` (English: the msgids themselves)."""
    if language == "en":
        return gettext.NullTranslations()
    path = LOCALE_DIR / _locale(language) / "LC_MESSAGES" / f"{DOMAIN}.po"
    try:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        with path.open("rb") as fh:
            catalog = read_po(fh, locale=_locale(language), domain=DOMAIN)
        buf = io.BytesIO()
        write_mo(buf, catalog, use_fuzzy=False)  # a fuzzy (unchecked) translation shows the English text
        buf.seek(0)
        return gettext.GNUTranslations(buf)
    except Exception as err:  # noqa: BLE001 - any fault of the catalogue: show English, keep running
        log.warning("messages in %s are not available (%s: %s); showing English", language, path,
                    type(err).__name__)
        return gettext.NullTranslations()


@dataclass(frozen=True, slots=True)
class Display:
    language: str
    zone: ZoneInfo

    @property
    def catalog(self) -> gettext.NullTranslations:
        return translations(self.language)


def resolve_language(configured: str | None = None) -> str:
    """``SYNCD_LANG`` when set and valid, else the configured language, else the default (zh-CN)."""
    env = os.environ.get(ENV_LANG, "").strip()
    if env:
        try:
            return normalize(env)
        except ValueError:
            log.warning("%s=%r is not a known language (%s); ignoring it", ENV_LANG, env, ", ".join(LANGUAGES))
    return normalize(configured) if configured else DEFAULT_LANGUAGE


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name`` (Asia/Shanghai when None). Raises ValueError for an unknown name."""
    if not name or name == DEFAULT_TIMEZONE:
        return clock.SHANGHAI
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {name!r}: expected an IANA name such as Asia/Shanghai") from err


def initial() -> Display:
    """The display before any configuration is read (a CLI command that opens none): SYNCD_LANG, else zh-CN."""
    return Display(resolve_language(), clock.SHANGHAI)


_active = initial()


def activate(language: str | None = None, timezone: str | None = None) -> Display:
    """Make ``language`` (after ``SYNCD_LANG``) and ``timezone`` the process's display settings; returns them."""
    global _active
    _active = Display(resolve_language(language), zone(timezone))
    return _active


def active() -> Display:
    return _active


@contextmanager
def use(language: str, timezone: str | None = None) -> Iterator[Display]:
    """Display in ``language`` (exactly, ``SYNCD_LANG`` is not consulted) for the block, then restore."""
    global _active
    before = _active
    _active = Display(normalize(language), zone(timezone) if timezone else before.zone)
    try:
        yield _active
    finally:
        _active = before


def _(message: str) -> str:
    """``message`` in the active language."""
    return _active.catalog.gettext(message)



def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of ``n`` in the active language (Chinese has one)."""
    return _active.catalog.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for extraction only; translate it with :func:`_` where it is shown."""
    return message


def local_time(dt: datetime) -> str:
    """``2026-05-03 10:00:00`` in the display zone: to the second, no microseconds, no offset."""
    return clock.ensure_utc(dt).astimezone(_active.zone).strftime("%Y-%m-%d %H:%M:%S")


def zone_label() -> str:
    """How the display zone is named to the reader: 北京时间 / Beijing time, else its IANA name."""
    if _active.zone.key == DEFAULT_TIMEZONE:
        return _("Beijing time")
    return _active.zone.key
