"""The console's Starlette app: sign-in, the session guard, CSRF, and the routes of :mod:`syncd.console.pages`.

Mounted under ``/`` on the admin port (:mod:`syncd.httpd`). Nothing is served without a session but the sign-in
page and ``/static``. Every answer carries a strict Content-Security-Policy (scripts from the console itself only,
no inline script), ``X-Frame-Options: DENY`` and ``no-store``. Forms are parsed here from bodies of at most
``MAX_FORM`` bytes (URL-encoded; no multipart). Logs name the user and the client address, never a password,
a cookie or a token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from syncd.console.auth import AttemptLimit, PasswordHash, Session, Sessions, csrf_ok
from syncd.console.pages import Pages
from syncd.console.settings import ConsoleSettings
from syncd.httpserver import BodyTooLarge, read_body
from syncd.i18n import _

log = logging.getLogger("syncd.console")

COOKIE = "syncd_session"
MAX_FORM = 16 * 1024
STATIC = Path(__file__).with_name("static")
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Handler = Callable[[Request, Session, dict[str, str]], Awaitable[Response]]


async def read_form(request: Request) -> dict[str, str]:
    """The URL-encoded form of a POST, at most ``MAX_FORM`` bytes (:class:`BodyTooLarge` past it)."""
    body = await read_body(request, MAX_FORM)
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


class Console:
    """The console of one daemon: its pages over ``pages`` and who may see them (``settings``)."""

    def __init__(self, pages: Pages, settings: ConsoleSettings, *, sessions: Sessions | None = None,
                 attempts: AttemptLimit | None = None) -> None:
        self.pages = pages
        self.settings = settings
        self.sessions = sessions or Sessions(ttl=settings.session_hours * 3600)
        self.attempts = attempts or AttemptLimit()
        secret = settings.password_hash
        self._hash = PasswordHash.parse(secret.get_secret_value()) if secret is not None else None

    def app(self) -> Starlette:
        """The ASGI app, to mount under ``/``."""
        routes: list[BaseRoute] = [
            Route("/login", self._login_page, methods=["GET"]),
            Route("/login", self._login, methods=["POST"]),
            Route("/logout", self._guarded(self._logout), methods=["POST"]),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ]
        for path, handler, methods in self.pages.routes():
            routes.append(Route(path, self._guarded(handler), methods=methods))
        return Starlette(routes=routes)

    # ---- sessions ----

    def _secure(self, request: Request) -> bool:
        if self.settings.secure_cookie or request.url.scheme == "https":
            return True
        return (_client(request) in self.settings.proxies
                and request.headers.get("x-forwarded-proto", "").lower() == "https")

    def _proxy_user(self, request: Request) -> str | None:
        header = self.settings.trusted_header
        if header is None or _client(request) not in self.settings.proxies:
            return None
        user = request.headers.get(header, "").strip()
        if not user or len(user) > 64 or not user.isprintable():
            return None
        return user

    def _session(self, request: Request) -> tuple[Session | None, bool]:
        """The request's session, and whether it was made just now (header mode: set its cookie)."""
        session = self.sessions.get(request.cookies.get(COOKIE))
        proxied = self._proxy_user(request)
        if self.settings.trusted_header is not None and self.settings.password_hash is None:
            if proxied is None:
                return None, False  # header mode only: no header, no access, whatever cookie it brings
            if session is None or session.user != proxied:
                return self.sessions.create(proxied), True
        elif session is None and proxied is not None:
            return self.sessions.create(proxied), True
        return session, False

    def _set_cookie(self, response: Response, request: Request, session: Session) -> None:
        response.set_cookie(COOKIE, session.token, max_age=int(self.settings.session_hours * 3600), path="/",
                            httponly=True, samesite="strict", secure=self._secure(request))

    def _guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session, fresh = self._session(request)
            if session is None:
                if request.method == "GET":
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return _headers(RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303))
                return _headers(self.pages.refusal(403, _("Sign in first.")))
            form: dict[str, str] = {}
            if request.method == "POST":
                read = await self._form(request)
                if isinstance(read, Response):
                    return read
                form = read
                if not csrf_ok(session, form.get("csrf")):
                    log.warning("console: a form without a valid CSRF token from %s refused", _client(request))
                    return _headers(self.pages.refusal(403, _("The form has expired: reload the page and try "
                                                              "again.")))
            response = await handler(request, session, form)
            if fresh:
                self._set_cookie(response, request, session)
            return _headers(response)
        return endpoint

    async def _form(self, request: Request) -> dict[str, str] | Response:
        """The POST's form, or the answer refusing it (too large, or the client went away)."""
        try:
            return await read_form(request)
        except BodyTooLarge:
            return _headers(self.pages.refusal(413, _("The form is too large.")))
        except ClientDisconnect:
            return Response(status_code=400)

    # ---- sign-in ----

    async def _login_page(self, request: Request) -> Response:
        session, _fresh = self._session(request)
        if session is not None:
            return _headers(RedirectResponse("/", status_code=303))
        return _headers(HTMLResponse(self.pages.login(enabled=self._hash is not None,
                                                      next_url=_local(request.query_params.get("next")))))

    async def _login(self, request: Request) -> Response:
        client = _client(request)
        wait = self.attempts.retry_after(client)
        if wait:
            log.warning("console: sign-in from %s refused: too many failed attempts", client)
            page = self.pages.login(enabled=True, error=_("Too many failed attempts: try again in {n} seconds.")
                                    .format(n=int(wait)))
            return _headers(HTMLResponse(page, status_code=429, headers={"Retry-After": str(int(wait))}))
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        next_url = _local(form.get("next"))
        if self._hash is None:
            return _headers(HTMLResponse(self.pages.login(enabled=False), status_code=403))
        password = form.get("password", "")
        ok = await run_in_threadpool(self._hash.verify, password)
        if not ok:
            self.attempts.failed(client)
            log.warning("console: failed sign-in from %s", client)
            return _headers(HTMLResponse(self.pages.login(enabled=True, error=_("Wrong password."), next_url=next_url),
                                         status_code=401))
        self.attempts.succeeded(client)
        session = self.sessions.create(self.settings.user)
        log.info("console: %s signed in from %s", session.user, client)
        response = RedirectResponse(next_url or "/", status_code=303)
        self._set_cookie(response, request, session)
        return _headers(response)

    async def _logout(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        self.sessions.drop(session.token)
        log.info("console: %s signed out", session.user)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=self._secure(request))
        return response


def _local(target: str | None) -> str:
    """``target`` when it is a path of this site (``/…``, not ``//host``); else empty: no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    return target


def _headers(response: Response) -> Response:
    for k, v in HEADERS.items():
        response.headers.setdefault(k, v)
    return response


def build_console(pages: Pages, settings: ConsoleSettings | None = None, **kw: Any) -> Starlette:
    """The console app (settings from the environment unless given)."""
    return Console(pages, settings or ConsoleSettings(), **kw).app()
