"""Sandbox simulators of the outside systems, speaking their real wire protocols (DESIGN.md "Sandbox").

- :class:`Sandbox` / :class:`SupplierSpec`: everything at once (server, Douyin shop, supplier bots)
- :class:`DouyinSimulator`: Douyin Shop open platform under ``/douyin``
- :class:`SupplierBot`: a drop-folder supplier answering order sheets with tracking numbers
- :class:`SandboxServer`: the 127.0.0.1 HTTP server they are mounted on
- :mod:`adapters.sandbox.seed`: deterministic orders, the catalog, the sandbox credentials
"""

from syncd.adapters.sandbox.bundle import Sandbox, SupplierSpec
from syncd.adapters.sandbox.douyin_sim import DouyinSimulator
from syncd.adapters.sandbox.httpserver import SandboxServer
from syncd.adapters.sandbox.seed import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_ID, generate_orders
from syncd.adapters.sandbox.supplier_bot import SupplierBot

__all__ = ["SANDBOX_APP_KEY", "SANDBOX_APP_SECRET", "SANDBOX_SHOP_ID", "DouyinSimulator", "Sandbox",
           "SandboxServer", "SupplierBot", "SupplierSpec", "generate_orders"]
