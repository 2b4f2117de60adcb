"""The storefront contract suite's harness: every simulator available, driven through its real adapter.

For each platform: a fresh simulator (no orders) on a real 127.0.0.1 :class:`SandboxServer`, and the
adapter built the way the daemon builds it: :func:`syncd.registry.load_builtin`, the plugin's
``config_model`` over ``sim.shop_config(server.url + sim.prefix)`` (where the simulator is mounted),
an :class:`AdapterContext` with a real ``httpx.Client``, an in-memory token store, a retry policy that
never sleeps and a rate limiter on a fake clock.

Simulators are found by trying the module names in :data:`SIM_MODULES`; a platform whose simulator module
does not exist yet is skipped with the reason. A simulator whose constructor needs arguments is built
from ``SANDBOX_<PARAM>`` / ``SANDBOX_<PLATFORM>_<PARAM>`` constants of its module or its seed module;
when that is not enough, add an entry to :data:`EXPLICIT_FACTORIES` (marked LEAD below).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from syncd import registry
from syncd.adapters.sandbox.control import StorefrontSim
from syncd.adapters.sandbox.httpserver import SandboxServer
from syncd.http import CallStats
from syncd.protocols import StorefrontAdapter
from syncd.ratelimit import RateLimiter
from syncd.registry import AdapterContext
from syncd.retry import RetryPolicy
from tests.fakes import FakeTokenStore

SimFactory = Callable[[], StorefrontSim]

PLATFORMS = ("douyin", "pdd", "taobao")

# platform → candidate (simulator module, class names), tried in order
SIM_MODULES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "douyin": [("syncd.adapters.sandbox.douyin_sim", ("DouyinSimulator",))],
    "pdd": [(m, ("PddSimulator", "PinduoduoSimulator", "PDDSimulator"))
            for m in ("syncd.adapters.sandbox.pdd_sim", "syncd.adapters.sandbox.pdd_simulator",
                      "syncd.adapters.sandbox.pinduoduo_sim", "syncd.adapters.sandbox.pdd")],
    "taobao": [(m, ("TaobaoSimulator", "TopSimulator", "TaobaoTopSimulator"))
               for m in ("syncd.adapters.sandbox.taobao_sim", "syncd.adapters.sandbox.taobao_simulator",
                         "syncd.adapters.sandbox.top_sim", "syncd.adapters.sandbox.taobao")],
}
# where the sandbox credentials of each platform live (SANDBOX_* constants)
SEED_MODULES: dict[str, tuple[str, ...]] = {
    "douyin": ("syncd.adapters.sandbox.seed",),
    "pdd": ("syncd.adapters.sandbox.pdd_seed", "syncd.adapters.sandbox.seed"),
    "taobao": ("syncd.adapters.sandbox.taobao_seed", "syncd.adapters.sandbox.top_seed", "syncd.adapters.sandbox.seed"),
}
_CONSTANT_PREFIXES: dict[str, tuple[str, ...]] = {
    "douyin": ("SANDBOX_", "SANDBOX_DOUYIN_"),
    "pdd": ("SANDBOX_PDD_", "SANDBOX_"),
    "taobao": ("SANDBOX_TAOBAO_", "SANDBOX_TOP_", "SANDBOX_TB_", "SANDBOX_"),
}
_EMPTY_ORDER_PARAMS = frozenset({"orders", "trades", "seed_orders", "initial_orders"})


def _douyin() -> StorefrontSim:
    from syncd.adapters.sandbox.douyin_sim import DouyinSimulator
    from syncd.adapters.sandbox.seed import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_ID

    sim: StorefrontSim = DouyinSimulator(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_ID, [],
                                         release_after=None)
    return sim


def _taobao() -> StorefrontSim:
    from syncd.adapters.sandbox import taobao_seed as tseed
    from syncd.adapters.sandbox.taobao_sim import TaobaoSimulator

    sim: StorefrontSim = TaobaoSimulator(tseed.SANDBOX_TAOBAO_APP_KEY, tseed.SANDBOX_TAOBAO_APP_SECRET,
                                         {tseed.SANDBOX_TAOBAO_SESSION: tseed.SANDBOX_TAOBAO_REFRESH}, [])
    return sim


# ---- LEAD: explicit factories ---------------------------------------------------------------------------
# A simulator the generic construction below cannot build (constructor arguments without a matching
# SANDBOX_* constant) gets an entry here, e.g.
#     "pdd": lambda: PddSimulator(SANDBOX_PDD_CLIENT_ID, SANDBOX_PDD_CLIENT_SECRET, SANDBOX_PDD_MALL_ID, []),
# Every factory returns a simulator with no orders, no random faults and no scheduled evolution. An entry is
# used only once one of the platform's SIM_MODULES exists (until then the platform is skipped).
# pdd is built generically (PddSimulator(client_id, client_secret, mall_id, orders) from pdd_seed constants).
EXPLICIT_FACTORIES: dict[str, SimFactory] = {
    "douyin": _douyin,
    "taobao": _taobao,  # its ``sessions`` argument is {session: refresh token}
}
# ---------------------------------------------------------------------------------------------------------


def _module(name: str) -> ModuleType | None:
    """The module when it exists (an import error inside an existing module is a failure, not a skip)."""
    try:
        if importlib.util.find_spec(name) is None:
            return None
    except ModuleNotFoundError:  # a missing parent package
        return None
    return importlib.import_module(name)


def _generic_factory(platform: str, module: ModuleType, cls: type[Any]) -> SimFactory:
    """Build ``cls`` from SANDBOX_* constants for its required parameters, or fail naming what is missing."""
    sources = [module] + [m for m in (_module(n) for n in SEED_MODULES.get(platform, ())) if m is not None]
    args: dict[str, Any] = {}
    missing: list[str] = []
    for name, param in inspect.signature(cls).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.default is not param.empty:
            continue
        if name in _EMPTY_ORDER_PARAMS:
            args[name] = []
            continue
        found = [getattr(src, prefix + name.upper()) for prefix in _CONSTANT_PREFIXES[platform] for src in sources
                 if hasattr(src, prefix + name.upper())]
        if found:
            args[name] = found[0]
        else:
            missing.append(name)
    if missing:
        pytest.fail(f"{cls.__module__}.{cls.__name__} needs {', '.join(missing)} and no SANDBOX_* constant gives "
                    f"it: add a {platform!r} entry to EXPLICIT_FACTORIES in tests/contract/conftest.py")

    def build() -> StorefrontSim:
        sim: StorefrontSim = cls(**args)
        return sim

    return build


def simulator_factory(platform: str) -> SimFactory:
    """The factory of ``platform``'s simulator; skips when its module does not exist yet."""
    tried = []
    for module_name, class_names in SIM_MODULES[platform]:
        tried.append(module_name)
        module = _module(module_name)
        if module is None:
            continue
        if platform in EXPLICIT_FACTORIES:
            return EXPLICIT_FACTORIES[platform]
        for class_name in class_names:
            cls = getattr(module, class_name, None)
            if isinstance(cls, type):
                return _generic_factory(platform, module, cls)
        pytest.fail(f"{module_name} exists but defines none of {', '.join(class_names)}: "
                    "name the simulator class here or add it to EXPLICIT_FACTORIES")
    pytest.skip(f"no {platform} simulator yet (looked for {', '.join(tried)})")


# ---- the pieces of the AdapterContext ---------------------------------------------------------------------


class FakeTime:
    """A monotonic clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Storefront:
    """One platform under test: its simulator, its adapter, and what the adapter was given."""

    platform: str
    sim: StorefrontSim
    adapter: StorefrontAdapter
    tokens: FakeTokenStore
    retry: RetryPolicy
    limiter: RateLimiter
    retry_sleeps: list[float]
    stats: CallStats


@pytest.fixture(params=PLATFORMS)
def storefront(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storefront]:
    """A fresh simulator on a real server and the platform's adapter, token already obtained."""
    platform: str = request.param
    sim = simulator_factory(platform)()
    assert isinstance(sim, StorefrontSim), f"{type(sim).__name__} does not implement StorefrontSim"
    assert sim.platform == platform
    registry.load_builtin()
    plugin = registry.STOREFRONTS.get(platform)
    if plugin is None:
        pytest.fail(f"a {platform} simulator exists but no storefront plugin is registered for {platform!r} "
                    "(adapters/builtin.py)")
    server = SandboxServer()
    server.mount(sim.prefix, sim)
    server.start()
    http = httpx.Client(timeout=10)
    try:
        config = plugin.config_model.model_validate(sim.shop_config(server.url + sim.prefix))
        assert urlsplit(config.base_url).path.startswith(sim.prefix), (
            f"shop_config must give a base_url under {sim.prefix}, gave {config.base_url}")
        sleeps: list[float] = []
        retry = RetryPolicy(attempts=4, max_seconds=300, initial_wait=0, max_wait=0, sleep=sleeps.append)
        fake = FakeTime()
        limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
        tokens = FakeTokenStore()
        stats = CallStats()
        ctx = AdapterContext(http=http, tokens=tokens, data_dir=tmp_path, retry=retry, limiter=limiter, stats=stats)
        adapter = plugin.factory(config, ctx)
        assert isinstance(adapter, StorefrontAdapter)
        adapter.ensure_token()
        yield Storefront(platform=platform, sim=sim, adapter=adapter, tokens=tokens, retry=retry, limiter=limiter,
                         retry_sleeps=sleeps, stats=stats)
        adapter.close()
    finally:
        http.close()
        server.stop()
