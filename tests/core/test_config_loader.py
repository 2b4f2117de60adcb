"""Config files: every problem reported at once as ``file: key.path: message``; secrets from the environment."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from syncd.config.loader import load_config
from syncd.errors import ConfigErrors

SANDBOX = Path(__file__).resolve().parents[2] / "config" / "sandbox"
ENV = {"SYNCD_SANDBOX_URL": "http://127.0.0.1:1"}


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    shutil.copytree(SANDBOX, d)
    return d


def _errors(d: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigErrors) as exc:
        load_config(d, env=env if env is not None else ENV)
    return [str(e) for e in exc.value.errors]


def test_load_given_the_sandbox_config_validates_every_file():
    cfg = load_config(SANDBOX, env=ENV)
    assert set(cfg.shops) == {"douyin-demo", "pdd-demo", "taobao-demo"}
    assert set(cfg.suppliers) == {"yiwu-goods", "gz-apparel", "ali-factory", "hz-warehouse"}
    assert set(cfg.channels) == {"sandbox-dingtalk", "sandbox-wecom"} and cfg.tracking.provider == "kuaidi100"
    assert cfg.routes and all(r.supplier in cfg.suppliers for r in cfg.routes.values())
    assert cfg.shops["douyin-demo"].base_url == "http://127.0.0.1:1/douyin"


def test_load_given_several_problems_reports_each_with_file_and_key_path(cfg_dir: Path):
    shop = cfg_dir / "shops" / "douyin-demo.yaml"
    shop.write_text(
        shop.read_text(encoding="utf-8").replace("window_minutes: 10080", "window_minuts: 10080"), encoding="utf-8"
    )
    (cfg_dir / "syncd.yaml").write_text("intervals:\n  pull: -5\n", encoding="utf-8")
    (cfg_dir / "suppliers" / "yiwu-goods.yaml").write_text("kind: fax\n", encoding="utf-8")
    errs = _errors(cfg_dir)
    assert "shops/douyin-demo.yaml: pull.window_minuts: unknown key (typo?); did you mean 'window_minutes'?" in errs
    assert any(e.startswith("syncd.yaml: intervals.pull: ") and "-5" in e for e in errs)
    assert "suppliers/yiwu-goods.yaml: kind: expected one of: 1688, file, webhook; found 'fax'" in errs


def test_load_given_a_secret_from_an_unset_variable_names_the_variable_not_a_value(cfg_dir: Path):
    shop = cfg_dir / "shops" / "douyin-demo.yaml"
    shop.write_text(
        shop.read_text(encoding="utf-8").replace(
            "${SANDBOX_DOUYIN_APP_SECRET:-sandbox-secret-not-for-production}", "${MY_DOUYIN_SECRET}"
        ),
        encoding="utf-8",
    )
    errs = _errors(cfg_dir)
    assert "shops/douyin-demo.yaml: app_secret: environment variable MY_DOUYIN_SECRET is not set" in errs
    cfg = load_config(cfg_dir, env={**ENV, "MY_DOUYIN_SECRET": "s3cr3t-value"})
    shop_cfg = cfg.shops["douyin-demo"]
    assert "s3cr3t-value" not in repr(shop_cfg)


def test_load_given_broken_yaml_names_the_line(cfg_dir: Path):
    (cfg_dir / "routes.yaml").write_text("routes:\n  - {sku: A, supplier: yiwu-goods\n", encoding="utf-8")
    errs = _errors(cfg_dir)
    assert len(errs) == 1 and errs[0].startswith("routes.yaml: (top): line ")


def test_load_given_routes_csv_reads_thousands_of_rows_and_reports_bad_lines(cfg_dir: Path):
    (cfg_dir / "routes.yaml").unlink()
    lines = ["sku,supplier,supplier_sku,multiplier,cost"] + [f"S{i},yiwu-goods,Y{i},1,2.5" for i in range(3000)]
    (cfg_dir / "routes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    cfg = load_config(cfg_dir, env=ENV)
    assert len(cfg.routes) == 3000 and cfg.routes["S7"].supplier_sku == "Y7"
    (cfg_dir / "routes.csv").write_text(
        "sku,supplier,supplier_sku,multiplier\nA,yiwu-goods,Y,zero\nB,nobody,Y,1\nA,yiwu-goods,Y,1\n", encoding="utf-8"
    )
    errs = _errors(cfg_dir)
    assert any(e.startswith("routes.csv: line 2.multiplier: ") for e in errs)
    assert "routes.csv: line 3.supplier: supplier 'nobody' has no file in suppliers/" in errs


def test_load_given_two_routes_for_one_sku_refuses_the_second(cfg_dir: Path):
    (cfg_dir / "routes.yaml").write_text(
        "routes:\n  - {sku: A, supplier: yiwu-goods, supplier_sku: X}\n  - {sku: A, supplier: gz-apparel, "
        "supplier_sku: Y}\n",
        encoding="utf-8",
    )
    assert _errors(cfg_dir) == ["routes.yaml: routes[1]: SKU 'A' is routed twice (first in routes.yaml routes[0])"]


def test_load_given_no_shop_says_so(cfg_dir: Path):
    shutil.rmtree(cfg_dir / "shops")
    assert _errors(cfg_dir) == ["shops/: (top): no shop configured: add one file per shop"]


def test_load_given_bundles_and_fallbacks_validates_them(cfg_dir: Path):
    (cfg_dir / "routes.yaml").write_text(
        "routes:\n"
        "  - {sku: GIFT, supplier: yiwu-goods, components: [{supplier_sku: X, multiplier: 2}, {supplier_sku: Y}]}\n"
        "  - {sku: MUG, supplier: yiwu-goods, supplier_sku: M, fallback_supplier: gz-apparel, fallback_sku: GM}\n",
        encoding="utf-8")
    cfg = load_config(cfg_dir, env=ENV)
    assert [(c.supplier_sku, c.multiplier) for c in cfg.routes["GIFT"].parts()] == [("X", 2), ("Y", 1)]
    assert (cfg.routes["MUG"].fallback_supplier, cfg.routes["MUG"].fallback_sku) == ("gz-apparel", "GM")


def test_load_given_bad_bundles_and_fallbacks_says_what_is_wrong(cfg_dir: Path):
    (cfg_dir / "routes.yaml").write_text(
        "routes:\n"
        "  - {sku: A, supplier: yiwu-goods}\n"
        "  - {sku: B, supplier: yiwu-goods, supplier_sku: X, components: [{supplier_sku: Y}]}\n"
        "  - {sku: C, supplier: yiwu-goods, supplier_sku: X, fallback_supplier: nobody}\n"
        "  - {sku: D, supplier: yiwu-goods, supplier_sku: X, fallback_supplier: yiwu-goods}\n",
        encoding="utf-8")
    errors = _errors(cfg_dir)
    assert any(e.startswith("routes.yaml: routes[0]") and "either supplier_sku or components" in e for e in errors)
    assert any(e.startswith("routes.yaml: routes[1]") and "not both" in e for e in errors)
    assert "routes.yaml: routes[2].fallback_supplier: supplier 'nobody' has no file in suppliers/" in errors
    assert any(e.startswith("routes.yaml: routes[3]") and "must differ" in e for e in errors)


def test_load_given_alert_channels_and_tracking_validates_each_against_its_kind(cfg_dir: Path):
    (cfg_dir / "alerts.yaml").write_text("channels:\n  - {kind: pager, id: x}\n", encoding="utf-8")
    (cfg_dir / "tracking.yaml").write_text("provider: aftership\n", encoding="utf-8")
    errors = _errors(cfg_dir)
    assert any(e.startswith("alerts.yaml: channels[0].kind: expected one of:") and "'pager'" in e for e in errors)
    assert any(e.startswith("tracking.yaml: provider: expected one of:") and "'aftership'" in e for e in errors)


# ---- secrets are never echoed: by their type, or because they came from ${NAME} (issue 16.5) ----------------


def _shop(cfg_dir: Path, name: str, text: str) -> None:
    (cfg_dir / "shops" / name).write_text(text, encoding="utf-8")


def test_load_given_an_unquoted_numeric_taobao_session_never_echoes_it(cfg_dir: Path):
    # YAML reads an unquoted all-digit session as a number: a SecretStr refuses it, and the error once printed it
    _shop(cfg_dir, "tb.yaml", 'platform: taobao\napp_key: "1"\napp_secret: ${TB_SECRET}\n'
          "session: 6100123456789012345\nsession_expires_at: 2030-01-01 00:00:00\n")
    errs = _errors(cfg_dir, {**ENV, "TB_SECRET": "s"})
    assert "shops/tb.yaml: session: Input should be a valid string" in errs
    assert not any("6100123456789012345" in e for e in errs)


def test_load_given_an_environment_value_in_a_field_that_is_not_secret_never_echoes_it(cfg_dir: Path):
    # a session pasted by mistake into the expiry: the field is a date, but the value came from ${NAME}
    _shop(cfg_dir, "tb.yaml", 'platform: taobao\napp_key: "1"\napp_secret: ${TB_SECRET}\nsession: ${TB_SESSION}\n'
          "session_expires_at: ${TB_SESSION}\nbase_url: ${TB_URL}\n")
    errs = _errors(cfg_dir, {**ENV, "TB_SECRET": "s", "TB_SESSION": "6201sessionvalue77",
                             "TB_URL": "ftp://gw?token=urltoken99"})
    assert any(e.startswith("shops/tb.yaml: session_expires_at: Input should be a valid datetime") for e in errs)
    assert any(e.startswith("shops/tb.yaml: base_url: ") for e in errs)  # its own validator quotes what it got
    assert not any("6201sessionvalue77" in e or "urltoken99" in e for e in errs), errs


def test_load_given_a_literal_value_of_a_plain_field_still_says_what_was_found(cfg_dir: Path):
    _shop(cfg_dir, "tb.yaml", 'platform: taobao\napp_key: "1"\napp_secret: ${TB_SECRET}\nsession: ${TB_SESSION}\n'
          "can_refresh: 7\n")
    errs = _errors(cfg_dir, {**ENV, "TB_SECRET": "s", "TB_SESSION": "x"})
    assert "shops/tb.yaml: can_refresh: Input should be a valid boolean, unable to interpret input, found 7" in errs


def test_load_given_secrets_of_every_shape_in_the_wrong_type_echoes_none(cfg_dir: Path):
    # nested (douyin auth), optional (taobao refresh_token), Annotated (kuaidi100 key), in a list (alert channels)
    _shop(cfg_dir, "dy.yaml", "platform: douyin\napp_key: '1'\napp_secret: 7777000011\nshop_id: '5'\n"
          "auth: {grant: token, access_token: 8888000022, refresh_token: [9999000033]}\n")
    _shop(cfg_dir, "tb.yaml", 'platform: taobao\napp_key: "1"\napp_secret: x\nsession: x\ncan_refresh: true\n'
          "refresh_token: 5555000044\n")
    (cfg_dir / "alerts.yaml").write_text(
        "channels:\n  - {id: d, kind: dingtalk, access_token: 6666000055, secret: 4444000066}\n", encoding="utf-8")
    errs = _errors(cfg_dir)
    shown = "\n".join(errs)
    for secret in ("7777000011", "8888000022", "9999000033", "5555000044", "6666000055", "4444000066"):
        assert secret not in shown, secret
    assert any(e.startswith("alerts.yaml: channels[0].access_token: ") for e in errs)


def test_secret_at_finds_secret_types_through_optional_annotated_nested_and_list_fields():
    from syncd.adapters.douyin.config import DouyinShopConfig
    from syncd.adapters.kuaidi100.config import Kuaidi100Config
    from syncd.adapters.taobao.config import TaobaoShopConfig
    from syncd.config.loader import secret_at

    assert secret_at(TaobaoShopConfig, ("session",))
    assert secret_at(TaobaoShopConfig, ("refresh_token",))  # SecretStr | None
    assert secret_at(DouyinShopConfig, ("auth", "access_token"))
    assert secret_at(Kuaidi100Config, ("key",))  # Annotated[SecretStr, BeforeValidator]
    assert not secret_at(TaobaoShopConfig, ("can_refresh",))
    assert not secret_at(TaobaoShopConfig, ("app_key",))  # public, named like a secret: types decide, not names


def test_load_given_a_1688_supplier_that_wants_kuaidi100_without_tracking_yaml_says_so(cfg_dir: Path):
    path = cfg_dir / "suppliers" / "ali-factory.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "tracking_source: both\n", encoding="utf-8")
    assert load_config(cfg_dir, env=ENV).suppliers["ali-factory"].tracking_source == "both"  # type: ignore[attr-defined]
    (cfg_dir / "tracking.yaml").unlink()
    errors = _errors(cfg_dir)
    assert any(e.startswith("suppliers/ali-factory.yaml: tracking_source: 'both' needs a tracking provider")
               for e in errors), errors
