"""Mail through SMTP (stdlib smtplib), reference §E.5.

``security``: ``ssl`` (implicit TLS, usually port 465: 163.com), ``starttls`` (587: qq.com / foxmail),
``plain`` (a local relay or the sandbox sink). Login with ``username`` and ``password`` — for Chinese
providers the authorisation code 授权码, not the web login password. Each message is plain text with
a simple HTML alternative. A 4xx reply or a connection failure is transient; a 5xx refusal (login,
sender, every recipient) or a TLS mismatch is a configuration problem. When only some recipients are
refused the message went to the others: that is logged, not raised (raising would resend to all).

The SMTP connection comes from an injectable factory so tests need no network.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import Any, Protocol

from syncd import clock
from syncd.adapters.alerts import render
from syncd.adapters.alerts.base import SYSTEM, Monotonic, Sink
from syncd.adapters.alerts.config import EmailChannel
from syncd.adapters.alerts.errors import smtp_error
from syncd.domain import Message
from syncd.registry import AdapterContext

log = logging.getLogger("syncd.adapters.alerts.email")


class SmtpConnection(Protocol):
    """The part of :class:`smtplib.SMTP` the sink uses."""

    def starttls(self, *, context: ssl.SSLContext | None = None) -> tuple[int, bytes]: ...

    def login(self, user: str, password: str) -> tuple[int, bytes]: ...

    def send_message(self, msg: EmailMessage, from_addr: str | None = None,
                     to_addrs: str | Sequence[str] | None = None) -> dict[str, tuple[int, bytes]]: ...

    def quit(self) -> tuple[int, bytes]: ...

    def close(self) -> None: ...


SmtpFactory = Callable[[EmailChannel], SmtpConnection]


def connect(config: EmailChannel) -> SmtpConnection:
    """A connected (not yet logged in) SMTP session, TLS from the start when ``security: ssl``."""
    if config.security == "ssl":
        return smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_seconds,
                                context=ssl.create_default_context())
    return smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)


class EmailSink(Sink):
    """One mail channel (a sender and its recipients)."""

    noun = "channel"

    def __init__(self, config: EmailChannel, ctx: AdapterContext, *, smtp_factory: SmtpFactory = connect,
                 monotonic: Monotonic = time.monotonic) -> None:
        super().__init__(kind="email", name=config.id, per_minute=config.per_minute, max_bytes=render.EMAIL_MAX_BYTES,
                         ctx=ctx, monotonic=monotonic,
                         secrets=[config.password.get_secret_value() if config.password else None])
        self._config = config
        self._factory = smtp_factory
        self._tls: ssl.SSLContext | None = None  # built once: loading the CA store is slow

    def _render(self, message: Message) -> EmailMessage:
        prefix = " ".join(self._config.subject_prefix.split())
        subject, plain, page = render.email(message, subject_prefix=prefix, limit=self.max_bytes)
        mail = EmailMessage()
        mail["Subject"] = subject
        mail["From"] = self._config.sender
        mail["To"] = ", ".join(self._config.to)
        mail["Date"] = email.utils.format_datetime(clock.now())
        mail["Message-ID"] = email.utils.make_msgid(domain=self._config.sender.rsplit("@", 1)[1])
        # base64, not 8bit: CJK text passes servers that do not announce 8BITMIME
        mail.set_content(plain, cte="base64")
        mail.add_alternative(page, subtype="html", cte="base64")
        return mail

    def _deliver(self, payload: Any) -> None:
        try:
            refused = self._session(payload)
        except (smtplib.SMTPException, OSError) as err:
            failure = smtp_error(self.label, err, self.scrub)
            code = getattr(failure, "code", None)
            self._ctx.stats.record(SYSTEM, self.kind, f"smtp-{code}" if code else "smtp")
            raise failure from err
        self._ctx.stats.record(SYSTEM, self.kind)
        if refused:
            codes = sorted({code for code, _ in refused.values()})
            log.warning("%s: %d of %d recipients refused (SMTP %s); the others got the message", self.label,
                        len(refused), len(self._config.to), ", ".join(map(str, codes)))

    def _session(self, mail: EmailMessage) -> dict[str, tuple[int, bytes]]:
        cfg = self._config
        conn = self._factory(cfg)
        try:
            if cfg.security == "starttls":
                self._tls = self._tls or ssl.create_default_context()
                conn.starttls(context=self._tls)
            if cfg.username is not None and cfg.password is not None:
                conn.login(cfg.username, cfg.password.get_secret_value())
            refused = conn.send_message(mail, from_addr=cfg.sender, to_addrs=list(cfg.to))
            with contextlib.suppress(smtplib.SMTPException, OSError):
                conn.quit()  # the message was accepted; a failed goodbye changes nothing
            return refused
        finally:
            conn.close()
