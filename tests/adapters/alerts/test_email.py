"""Email sink: through a fake SMTP object (every failure class) and through the sandbox SMTP sink."""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
import time_machine

from syncd.adapters.alerts.config import EmailChannel
from syncd.adapters.alerts.email import EmailSink, SmtpConnection, connect
from syncd.adapters.sandbox.smtp_sink import SmtpSink
from syncd.domain import Message, Severity
from syncd.errors import RateLimitedError, RejectedError, TransientError
from syncd.registry import AdapterContext
from tests.adapters.alerts.conftest import FakeMonotonic, message

PASSWORD = "authcode-never-shown-88"


def config(**changes: Any) -> EmailChannel:
    raw: dict[str, Any] = {"id": "ops-mail", "kind": "email", "host": "smtp.qq.com", "port": 587,
                           "security": "starttls", "username": "alerts@qq.com", "password": PASSWORD,
                           "from": "alerts@qq.com", "to": ["ops@example.com", "boss@example.com"],
                           "timeout_seconds": 5}
    raw.update(changes)
    return EmailChannel.model_validate(raw)


@dataclass
class FakeSmtp:
    """Records the session; ``fail`` maps a method name to the exception it raises."""

    fail: dict[str, BaseException] = field(default_factory=dict)
    refused: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    sent: list[tuple[EmailMessage, str | None, Any]] = field(default_factory=list)
    login_args: tuple[str, str] | None = None

    def _step(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]

    def starttls(self, *, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
        assert isinstance(context, ssl.SSLContext)
        self._step("starttls")
        return 220, b"ready"

    def login(self, user: str, password: str) -> tuple[int, bytes]:
        self.login_args = (user, password)
        self._step("login")
        return 235, b"ok"

    def send_message(self, msg: EmailMessage, from_addr: str | None = None,
                     to_addrs: Any = None) -> dict[str, tuple[int, bytes]]:
        self._step("send_message")
        self.sent.append((msg, from_addr, to_addrs))
        return dict(self.refused)

    def quit(self) -> tuple[int, bytes]:
        self._step("quit")
        return 221, b"bye"

    def close(self) -> None:
        self.calls.append("close")


def make(ctx: AdapterContext, mono: FakeMonotonic, fake: FakeSmtp | None = None,
         connect_error: BaseException | None = None, **changes: Any) -> tuple[EmailSink, list[EmailChannel]]:
    opened: list[EmailChannel] = []

    def factory(cfg: EmailChannel) -> SmtpConnection:
        opened.append(cfg)
        if connect_error is not None:
            raise connect_error
        return fake or FakeSmtp()

    return EmailSink(config(**changes), ctx, smtp_factory=factory, monotonic=mono), opened


@pytest.fixture(autouse=True)
def _frozen(clock_at: time_machine.Traveller) -> None:
    """Every test here runs at the frozen NOW."""


def test_starttls_login_send_quit_close_with_plain_and_html(ctx: AdapterContext, mono: FakeMonotonic) -> None:
    fake = FakeSmtp()
    sink, opened = make(ctx, mono, fake)

    sink.send(Message("库存不足", ["SKU <A> 剩 0 件"], Severity.CRITICAL))

    assert fake.calls == ["starttls", "login", "send_message", "quit", "close"]
    assert fake.login_args == ("alerts@qq.com", PASSWORD)
    assert opened[0].host == "smtp.qq.com" and opened[0].timeout_seconds == 5
    mail, sender, to = fake.sent[0]
    assert sender == "alerts@qq.com" and to == ["ops@example.com", "boss@example.com"]
    assert mail["Subject"] == "[syncd] [CRITICAL] 库存不足"
    assert mail["To"] == "ops@example.com, boss@example.com"
    assert mail["Date"] == "Tue, 14 Nov 2023 22:13:20 +0000"
    assert mail["Message-ID"].endswith("@qq.com>")
    plain = mail.get_body(("plain",))
    page = mail.get_body(("html",))
    assert plain is not None and page is not None
    assert plain.get_content() == "[CRITICAL] 库存不足\n\n- SKU <A> 剩 0 件\n"
    assert "<li>SKU &lt;A&gt; 剩 0 件</li>" in page.get_content()
    assert plain["Content-Transfer-Encoding"] == "base64"
    assert ctx.stats.calls[("alerts", "email")] == 1


def test_ssl_and_plain_do_not_ask_for_starttls(ctx: AdapterContext, mono: FakeMonotonic) -> None:
    fake = FakeSmtp()
    make(ctx, mono, fake, security="ssl", port=465)[0].send(message())
    assert fake.calls == ["login", "send_message", "quit", "close"]
    anon = FakeSmtp()
    make(ctx, mono, anon, security="plain", username=None, password=None)[0].send(message())
    assert anon.calls == ["send_message", "quit", "close"]


def _auth(code: int, text: bytes) -> smtplib.SMTPAuthenticationError:
    return smtplib.SMTPAuthenticationError(code, text)


@pytest.mark.parametrize(("step", "error", "kind", "words"), [
    ("login", _auth(535, b"Login fail. Authorization code is expired"), RejectedError, "授权码"),
    ("login", _auth(454, b"temporary authentication failure"), TransientError, "SMTP 454"),
    ("send_message", smtplib.SMTPRecipientsRefused({"ops@example.com": (550, b"no such user"),
                                                    "boss@example.com": (550, b"no such user")}),
     RejectedError, "every recipient was refused (SMTP 550): check to"),
    ("send_message", smtplib.SMTPRecipientsRefused({"ops@example.com": (450, b"mailbox busy")}),
     TransientError, "every recipient was refused (SMTP 450)"),
    ("send_message", smtplib.SMTPSenderRefused(553, b"sender not allowed", "alerts@qq.com"), RejectedError,
     "check from"),
    ("send_message", smtplib.SMTPDataError(554, b"message looks like spam"), RejectedError, "SMTP 554"),
    ("send_message", smtplib.SMTPDataError(451, b"try later"), TransientError, "SMTP 451"),
    ("send_message", smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), TransientError,
     "connection failed (SMTPServerDisconnected)"),
    ("starttls", smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."), RejectedError,
     "check security and port"),
    ("starttls", ssl.SSLCertVerificationError(1, "certificate verify failed"), RejectedError, "TLS failed"),
])
def test_smtp_failures_are_classified(step: str, error: BaseException, kind: type[Exception], words: str,
                                      ctx: AdapterContext, mono: FakeMonotonic) -> None:
    fake = FakeSmtp(fail={step: error})
    sink, opened = make(ctx, mono, fake)

    with pytest.raises(kind) as caught:
        sink.send(message())

    assert str(caught.value).startswith("email channel 'ops-mail': ")
    assert words in str(caught.value)
    assert len(opened) == (3 if kind is TransientError else 1)  # transient: retried on a new connection
    assert fake.calls[-1] == "close"
    assert PASSWORD not in str(caught.value)
    if kind is RejectedError:
        assert not isinstance(caught.value, TransientError)


@pytest.mark.parametrize("error", [ConnectionRefusedError(111, "Connection refused"), TimeoutError("timed out"),
                                   socket.gaierror(-2, "Name or service not known"),
                                   smtplib.SMTPConnectError(421, b"too many connections")])
def test_connection_failures_are_transient(error: BaseException, ctx: AdapterContext, mono: FakeMonotonic) -> None:
    sink, opened = make(ctx, mono, connect_error=error)
    with pytest.raises(TransientError):
        sink.send(message())
    assert len(opened) == 3
    assert ctx.stats.calls[("alerts", "email")] == 3


def test_a_server_text_echoing_the_password_is_scrubbed(ctx: AdapterContext, mono: FakeMonotonic) -> None:
    fake = FakeSmtp(fail={"login": _auth(535, f"bad credentials alerts@qq.com/{PASSWORD}".encode())})
    with pytest.raises(RejectedError) as caught:
        make(ctx, mono, fake)[0].send(message())
    assert PASSWORD not in str(caught.value) and "***" in str(caught.value)
    assert ctx.stats.errors[("alerts", "email", "smtp-535")] == 1


def test_some_recipients_refused_is_delivered_and_logged(ctx: AdapterContext, mono: FakeMonotonic,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeSmtp(refused={"boss@example.com": (550, b"no such user")})
    with caplog.at_level(logging.WARNING, logger="syncd.adapters.alerts.email"):
        make(ctx, mono, fake)[0].send(message())
    assert fake.calls.count("send_message") == 1
    assert "email channel 'ops-mail': 1 of 2 recipients refused (SMTP 550)" in caplog.text


def test_a_failed_goodbye_after_acceptance_is_not_an_error(ctx: AdapterContext, mono: FakeMonotonic) -> None:
    fake = FakeSmtp(fail={"quit": smtplib.SMTPServerDisconnected("gone")})
    make(ctx, mono, fake)[0].send(message())
    assert fake.calls == ["starttls", "login", "send_message", "quit", "close"]


def test_ten_a_minute_by_default(ctx: AdapterContext, mono: FakeMonotonic) -> None:
    sink, opened = make(ctx, mono, FakeSmtp())
    for _ in range(10):
        sink.send(message())
    with pytest.raises(RateLimitedError):
        sink.send(message())
    assert len(opened) == 10


# ---- through the sandbox SMTP sink ----------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink(users={"alerts@sandbox.test": PASSWORD}) as sink:
        yield sink


def real(ctx: AdapterContext, mono: FakeMonotonic, smtp: SmtpSink, **changes: Any) -> EmailSink:
    raw = {**smtp.channel(**{"from": "alerts@sandbox.test", "to": ["ops@sandbox.test"], "timeout_seconds": 5}),
           **changes}
    return EmailSink(EmailChannel.model_validate(raw), ctx, monotonic=mono)


def test_sandbox_sink_receives_the_mail_with_login(ctx: AdapterContext, mono: FakeMonotonic, smtp: SmtpSink) -> None:
    real(ctx, mono, smtp).send(Message("订单超时未发货", ["订单 1", "订单 2"], Severity.WARNING))

    [mail] = smtp.messages()
    assert mail.user == "alerts@sandbox.test"
    assert mail.mail_from == "alerts@sandbox.test" and mail.rcpt_to == ["ops@sandbox.test"]
    parsed = mail.message
    assert parsed["Subject"] == "[syncd] [WARNING] 订单超时未发货"
    body = parsed.get_body(("plain",))
    assert body is not None and body.get_content() == "[WARNING] 订单超时未发货\n\n- 订单 1\n- 订单 2\n"


def test_sandbox_wrong_password_is_rejected(ctx: AdapterContext, mono: FakeMonotonic, smtp: SmtpSink) -> None:
    with pytest.raises(RejectedError, match="SMTP 535"):
        real(ctx, mono, smtp, password="wrong-code").send(message())
    assert smtp.messages() == []


def test_sandbox_421_is_retried_on_a_new_connection(ctx: AdapterContext, mono: FakeMonotonic, smtp: SmtpSink,
                                                    waits: list[float]) -> None:
    smtp.fail_next(421, "4.7.0 try again later")
    real(ctx, mono, smtp).send(message())
    assert len(smtp.messages()) == 1
    assert len(waits) == 1


def test_sandbox_550_at_mail_is_rejected(ctx: AdapterContext, mono: FakeMonotonic, smtp: SmtpSink) -> None:
    smtp.fail_next(550, "5.7.1 sender blocked", count=3)
    with pytest.raises(RejectedError, match="SMTP 550"):
        real(ctx, mono, smtp).send(message())
    assert smtp.messages() == []


def test_sandbox_refused_recipient(ctx: AdapterContext, mono: FakeMonotonic, smtp: SmtpSink) -> None:
    smtp.refuse["nobody@sandbox.test"] = 550
    real(ctx, mono, smtp, to=["ops@sandbox.test", "nobody@sandbox.test"]).send(message())
    assert [m.rcpt_to for m in smtp.messages()] == [["ops@sandbox.test"]]
    with pytest.raises(RejectedError, match="every recipient was refused"):
        real(ctx, mono, smtp, to=["nobody@sandbox.test"]).send(message())


def test_sandbox_without_starttls_is_a_configuration_error(ctx: AdapterContext, mono: FakeMonotonic,
                                                           smtp: SmtpSink) -> None:
    with pytest.raises(RejectedError, match="check security and port"):
        real(ctx, mono, smtp, security="starttls").send(message())


def test_ssl_against_a_plain_server_is_a_configuration_error(ctx: AdapterContext, mono: FakeMonotonic,
                                                             smtp: SmtpSink) -> None:
    with pytest.raises(RejectedError, match="TLS failed"):
        real(ctx, mono, smtp, security="ssl").send(message())


def test_nothing_listening_is_transient(ctx: AdapterContext, mono: FakeMonotonic) -> None:
    gone = SmtpSink()
    gone.start()
    port = gone.port
    gone.stop()
    cfg = config(host="127.0.0.1", port=port, security="plain", username=None, password=None)
    with pytest.raises(TransientError, match="connection failed"):
        EmailSink(cfg, ctx, monotonic=mono).send(message())


def test_default_factory_connects_plain(smtp: SmtpSink) -> None:
    conn = connect(config(host="127.0.0.1", port=smtp.port, security="plain"))
    try:
        assert isinstance(conn, smtplib.SMTP)
    finally:
        conn.close()
