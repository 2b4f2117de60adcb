"""The translation machinery: complete catalogues, the language and zone chosen, a broken catalogue survived."""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from fnmatch import fnmatch
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from pydantic import ValidationError

from syncd import i18n
from syncd.config.models import GlobalConfig

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")


def catalogue(language: str) -> Catalog:
    path = i18n.LOCALE_DIR / language.replace("-", "_") / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    with path.open("rb") as fh:
        return read_po(fh, locale=language.replace("-", "_"))


def extracted() -> dict[str, str | tuple[str, ...]]:
    """Every msgid pybabel finds in syncd/ and adapters/ with the project's mapping (babel.cfg)."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[str, str | tuple[str, ...]] = {}
    for top in ("syncd", "adapters"):
        for _file, _line, message, _comments, _context in extract_from_dir(ROOT / top, method_map, options_map):
            key = message[0] if isinstance(message, tuple) else message
            found[key] = tuple(m for m in message if m) if isinstance(message, tuple) else message
    return found


TRANSLATED = [lang for lang in i18n.LANGUAGES if lang != "en"]


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_of_the_catalogue_is_translated_and_checked(language: str) -> None:
    cat = catalogue(language)
    untranslated = [m.id for m in cat if m.id and (not m.string or not all(m.string) if isinstance(m.string, tuple)
                                                   else not m.string)]
    fuzzy = [m.id for m in cat if m.id and m.fuzzy]
    assert untranslated == [], f"no {language} translation (run make messages, then translate): {untranslated}"
    assert fuzzy == [], f"fuzzy {language} translations (check them, remove the fuzzy flag): {fuzzy}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_in_the_code_is_in_the_catalogue(language: str) -> None:
    ids = {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalogue(language) if m.id}
    missing = sorted(set(extracted()) - ids)
    assert missing == [], f"msgids not in the {language} catalogue (run make messages): {missing}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_a_translation_uses_exactly_the_placeholders_of_its_message(language: str) -> None:
    wrong = []
    for m in catalogue(language):
        if not m.id:
            continue
        source = m.id if isinstance(m.id, tuple) else (m.id,)
        target = m.string if isinstance(m.string, tuple) else (m.string,)
        want = set(PLACEHOLDER.findall(source[-1]))
        wrong += [(source[0], t) for t in target if set(PLACEHOLDER.findall(t)) != want]
    assert wrong == []


def test_the_catalogue_is_package_data() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["syncd"]
    po = (i18n.LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "syncd.po").relative_to(ROOT / "syncd").as_posix()
    assert any(fnmatch(po, pattern) for pattern in data)


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    i18n.translations.cache_clear()
    yield
    i18n.translations.cache_clear()


def test_chinese_is_read_from_the_po_without_a_compiled_mo(fresh_cache: None) -> None:
    assert not list(i18n.LOCALE_DIR.rglob("*.mo"))
    with i18n.use("zh-CN"):
        assert i18n._("Beijing time") == "北京时间"
        assert i18n.ngettext("… {count} more", "… {count} more", 3).format(count=3) == "… 还有 3 条"
    with i18n.use("en"):
        assert i18n._("Beijing time") == "Beijing time"


def test_a_broken_catalogue_shows_english_and_says_so_once(fresh_cache: None, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "zh_CN" / "LC_MESSAGES"
    bad.mkdir(parents=True)
    (bad / "syncd.po").write_bytes(b'msgid "Beijing time"\nmsgstr "\xff\xfe broken\n')
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    with caplog.at_level(logging.WARNING, "syncd.i18n"), i18n.use("zh-CN"):
        assert i18n._("Beijing time") == "Beijing time"
        assert i18n._("Beijing time") == "Beijing time"
    assert len([r for r in caplog.records if "showing English" in r.getMessage()]) == 1


def test_a_missing_catalogue_shows_english(fresh_cache: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    with i18n.use("zh-CN"):
        assert i18n._("Beijing time") == "Beijing time"


@pytest.mark.parametrize(("written", "language"), [("zh-CN", "zh-CN"), ("zh_CN", "zh-CN"), ("zh", "zh-CN"),
                                                   ("zh-Hans", "zh-CN"), ("en", "en"), ("EN_us", "en")])
def test_language_spellings(written: str, language: str) -> None:
    assert i18n.normalize(written) == language


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        i18n.normalize("fr")


def test_syncd_lang_wins_over_the_configured_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_LANG", "zh_CN")
    assert i18n.resolve_language("en") == "zh-CN"
    monkeypatch.delenv("SYNCD_LANG")
    assert i18n.resolve_language("en") == "en"
    assert i18n.resolve_language(None) == "zh-CN"  # the default: Chinese


def test_before_any_configuration_syncd_lang_or_chinese_is_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    assert i18n.initial().language == "en"  # the test suite's SYNCD_LANG
    monkeypatch.delenv("SYNCD_LANG")
    assert (i18n.initial().language, i18n.initial().zone.key) == ("zh-CN", "Asia/Shanghai")


def test_a_bad_syncd_lang_is_ignored_with_a_warning(monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SYNCD_LANG", "klingon")
    with caplog.at_level(logging.WARNING, "syncd.i18n"):
        assert i18n.resolve_language("en") == "en"
    assert "SYNCD_LANG='klingon'" in caplog.text


def test_activate_sets_language_and_zone_for_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCD_LANG")
    with i18n.use("en"):  # restores the test's display afterwards
        shown = i18n.activate("zh-CN", "Europe/Berlin")
        assert (shown.language, shown.zone.key) == ("zh-CN", "Europe/Berlin")
        assert i18n.active() is shown
        assert i18n.zone_label() == "Europe/Berlin"
        i18n.activate(None, None)
        assert (i18n.active().language, i18n.active().zone.key, i18n.zone_label()) == \
            ("zh-CN", "Asia/Shanghai", "北京时间")


def test_local_time_is_to_the_second_in_the_display_zone() -> None:
    at = datetime(2026, 12, 6, 3, 52, 7, 987654, tzinfo=UTC)
    with i18n.use("en"):
        assert i18n.local_time(at) == "2026-12-06 11:52:07"
        assert i18n.local_time(at.replace(tzinfo=None)) == "2026-12-06 11:52:07"  # naive = UTC, as stored
    with i18n.use("en", "America/New_York"):
        assert i18n.local_time(at) == "2026-12-05 22:52:07"


def test_syncd_yaml_defaults_to_chinese_and_beijing_and_refuses_unknown_values() -> None:
    cfg = GlobalConfig()
    assert (cfg.language, cfg.timezone) == ("zh-CN", "Asia/Shanghai")
    assert GlobalConfig.model_validate({"language": "en", "timezone": "Europe/Berlin"}).language == "en"
    with pytest.raises(ValidationError, match="language"):
        GlobalConfig.model_validate({"language": "fr"})
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Base'"):
        GlobalConfig.model_validate({"timezone": "Mars/Base"})
