"""Platform tokens at rest: sealed with SYNCD_SECRET_KEY, clear rows still read, keys rotated (issue 16.5)."""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from syncd import clock
from syncd.cli import main
from syncd.domain import Token
from syncd.errors import ConfigError
from syncd.runtime import DbTokenStore, token_cipher
from syncd.settings import Settings
from syncd.store.db import Database, open_database
from syncd.store.models import TokenRow
from syncd.store.tokencipher import PREFIX, TokenCipher, reseal_all, seal_clear_rows
from tests.core.test_config_loader import SANDBOX

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
ACCESS = "access-token-never-stored-in-clear-81f2"
REFRESH = "refresh-token-never-stored-in-clear-3c07"


def pair() -> Token:
    return Token(ACCESS, REFRESH, clock.now() + timedelta(days=7), extra={"shop_name": "测试店"})


def raw_rows(db: Database) -> list[tuple[str, str]]:
    with db.read() as s:
        return [(r.access_token, r.refresh_token) for r in s.scalars(select(TokenRow))]


def test_save_given_a_key_stores_neither_token_in_clear_and_load_gives_them_back(db: Database) -> None:
    store = DbTokenStore(db, "a", TokenCipher([NEW_KEY]))
    store.save("shop1", pair())

    [(access, refresh)] = raw_rows(db)
    assert access.startswith(PREFIX) and refresh.startswith(PREFIX)
    assert ACCESS not in access + refresh and REFRESH not in access + refresh
    fresh = DbTokenStore(db, "b", TokenCipher([NEW_KEY]))  # another process: nothing cached
    got = fresh.load("shop1")
    assert got is not None and (got.access_token, got.refresh_token) == (ACCESS, REFRESH)
    assert got.extra == {"shop_name": "测试店"}


def test_load_given_a_row_written_in_clear_before_the_key_was_set_reads_it_and_the_start_seals_it(
        db: Database) -> None:
    DbTokenStore(db, "a").save("shop1", pair())  # no key: clear, as before
    assert raw_rows(db) == [(ACCESS, REFRESH)]
    cipher = TokenCipher([NEW_KEY])

    got = DbTokenStore(db, "b", cipher).load("shop1")
    assert got is not None and got.access_token == ACCESS

    assert seal_clear_rows(db, cipher) == 1
    [(access, refresh)] = raw_rows(db)
    assert access.startswith(PREFIX) and ACCESS not in access and REFRESH not in refresh
    assert seal_clear_rows(db, cipher) == 0  # nothing left in clear: nothing rewritten
    got = DbTokenStore(db, "c", cipher).load("shop1")
    assert got is not None and (got.access_token, got.refresh_token) == (ACCESS, REFRESH)


def test_an_empty_refresh_token_stays_empty_so_the_expiry_rules_still_see_there_is_none(db: Database) -> None:
    DbTokenStore(db, "a", TokenCipher([NEW_KEY])).save("taobao-fixed", Token(ACCESS, "", clock.now()))
    [(_, refresh)] = raw_rows(db)
    assert refresh == ""


def test_rotation_reads_with_the_old_key_behind_the_new_and_rotate_reseals_every_row_with_the_new(
        db: Database) -> None:
    DbTokenStore(db, "a", TokenCipher([OLD_KEY])).save("shop1", pair())
    DbTokenStore(db, "a", TokenCipher([OLD_KEY])).save("supplier:acme", pair())
    both = TokenCipher([NEW_KEY, OLD_KEY])
    got = DbTokenStore(db, "b", both).load("shop1")
    assert got is not None and got.access_token == ACCESS

    assert reseal_all(db, both) == (2, 0)

    only_new = DbTokenStore(db, "c", TokenCipher([NEW_KEY]))
    for owner in ("shop1", "supplier:acme"):
        got = only_new.load(owner)
        assert got is not None and got.access_token == ACCESS
    with pytest.raises(ConfigError, match="not in SYNCD_SECRET_KEY"):
        DbTokenStore(db, "d", TokenCipher([OLD_KEY])).load("shop1")


def test_rotate_given_a_row_no_key_opens_leaves_it_and_counts_it(db: Database) -> None:
    DbTokenStore(db, "a", TokenCipher([OLD_KEY])).save("shop1", pair())
    before = raw_rows(db)

    assert reseal_all(db, TokenCipher([NEW_KEY])) == (0, 1)
    assert raw_rows(db) == before


def test_load_given_a_sealed_row_and_no_key_says_to_set_the_key_without_showing_anything_secret(
        db: Database) -> None:
    DbTokenStore(db, "a", TokenCipher([NEW_KEY])).save("shop1", pair())

    with pytest.raises(ConfigError) as caught:
        DbTokenStore(db, "b").load("shop1")
    text = str(caught.value)
    assert "SYNCD_SECRET_KEY is not set" in text and "'shop1'" in text
    assert NEW_KEY not in text and PREFIX not in text


# ids fixed: the keys are random, and xdist workers must collect the same test names
@pytest.mark.parametrize("raw", ["not-a-key", f"{NEW_KEY},short", "  ,  x"],
                         ids=["garbage", "valid-then-short", "blank"])
def test_a_malformed_key_is_a_config_error_that_never_shows_the_key(raw: str) -> None:
    with pytest.raises(ConfigError, match="not a Fernet key") as caught:
        TokenCipher.from_setting(raw)
    assert NEW_KEY not in str(caught.value) and "short" not in str(caught.value)


def test_from_setting_takes_every_comma_separated_key_newest_first() -> None:
    cipher = TokenCipher.from_setting(f" {NEW_KEY} , {OLD_KEY} ")
    assert cipher is not None and cipher.key_count == 2
    assert TokenCipher([NEW_KEY]).open(cipher.seal("x"), owner="'s'") == "x"  # sealed with the first
    assert TokenCipher.from_setting("") is None and TokenCipher.from_setting(None) is None


def test_token_cipher_without_a_key_warns_once_that_tokens_are_stored_in_clear(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="syncd"):
        assert token_cipher(Settings(secret_key=None)) is None
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "SYNCD_SECRET_KEY is not set" in record.getMessage() and "in clear" in record.getMessage()


def test_token_cipher_given_a_key_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="syncd"):
        assert token_cipher(Settings(secret_key=NEW_KEY)) is not None  # type: ignore[arg-type]
    assert caplog.records == []


# ---- the command line ---------------------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cfg = tmp_path / "config"
    shutil.copytree(SANDBOX, cfg)
    monkeypatch.setenv("SYNCD_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("SYNCD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SYNCD_SANDBOX_URL", "http://127.0.0.1:9")
    return tmp_path / "data" / "syncd.db"


def test_cli_new_key_prints_a_usable_fernet_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["secrets", "new-key"]) == 0
    key = capsys.readouterr().out.strip()
    assert TokenCipher([key]).open(TokenCipher([key]).seal("x"), owner="'s'") == "x"


def test_cli_rotate_reseals_every_row_with_the_newest_key(
        env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    db = open_database(f"sqlite:///{env}")
    DbTokenStore(db, "a", TokenCipher([OLD_KEY])).save("shop1", pair())
    monkeypatch.setenv("SYNCD_SECRET_KEY", f"{NEW_KEY},{OLD_KEY}")

    assert main(["secrets", "rotate"]) == 0

    assert "1 token row(s) sealed with the newest of 2 key(s)" in capsys.readouterr().out
    got = DbTokenStore(db, "b", TokenCipher([NEW_KEY])).load("shop1")
    assert got is not None and got.refresh_token == REFRESH
    db.dispose()


def test_cli_given_a_malformed_key_says_so_in_one_line_without_the_key(
        env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SYNCD_SECRET_KEY", "my-secret-passphrase")

    assert main(["secrets", "rotate"]) == 6  # a setting is wrong: the configuration check failed

    err = capsys.readouterr().err
    assert err.startswith("syncd: environment: SYNCD_SECRET_KEY: key 1 of 1 is not a Fernet key")
    assert "my-secret-passphrase" not in err and "Traceback" not in err
