"""The operator console: web pages on the daemon's admin port (issue 18). See docs/console.md.

:func:`for_runtime` builds it for a running daemon; :mod:`syncd.console.app` holds sign-in and the session guard,
:mod:`syncd.console.pages` the pages, :mod:`syncd.console.data` their queries, :mod:`syncd.console.bench` the
page-time measurement."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from syncd import clock

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from syncd.runtime import Runtime

log = logging.getLogger("syncd.console")


def for_runtime(rt: Runtime) -> Starlette:
    """The console of a running daemon: its database, shops, suppliers, display zone, and resync through its
    storefront adapters. A ``SYNCD_CONSOLE_*`` value that does not validate is logged (without the value) and the
    console then only says how to set it: a console problem never stops the orders."""
    from syncd import operations
    from syncd.console.app import build_console
    from syncd.console.pages import Pages
    from syncd.console.settings import ConsoleSettings
    from syncd.reports import ReportOptions

    try:
        settings = ConsoleSettings()
    except ValidationError as err:
        fields = ", ".join("SYNCD_CONSOLE_" + str(e["loc"][0]).upper() for e in err.errors() if e["loc"])
        log.error("console: %s not valid (%s); nobody can sign in until it is fixed", fields,
                  "; ".join(e["msg"] for e in err.errors()))
        settings = ConsoleSettings.model_construct(password_hash=None, trusted_header=None)
    try:
        zone = ZoneInfo(rt.config.global_.timezone)
    except (ZoneInfoNotFoundError, ValueError, AttributeError):
        zone = clock.SHANGHAI

    def resync(shop: str, pid: str, who: str, why: str) -> int:
        return operations.resync(rt, shop, pid, who, why)

    pages = Pages(rt.db, zone=zone, shops=sorted(rt.config.shops), suppliers=sorted(rt.config.suppliers),
                  ship_within_hours={k: v.ship_within_hours for k, v in rt.config.suppliers.items()},
                  resync=resync, report_options=ReportOptions.from_config(rt.config))
    if not settings.enabled:
        log.warning("console: no SYNCD_CONSOLE_PASSWORD_HASH nor SYNCD_CONSOLE_TRUSTED_HEADER: the console on the "
                    "admin port only shows how to set one (syncd console hash-password)")
    return build_console(pages, settings)
