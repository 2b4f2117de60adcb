"""A tiny SMTP server for the sandbox (stdlib socketserver, 127.0.0.1 only) that records mail.

Speaks enough SMTP for :mod:`smtplib`: EHLO / HELO, AUTH PLAIN and AUTH LOGIN (with or without an
initial response), MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP, QUIT. No STARTTLS (it has no
certificate; it answers 454), so channels point at it with ``security: plain``. With ``users`` set,
MAIL needs a successful AUTH first (530). ``refuse`` maps recipient addresses to the reply code RCPT
gets for them; :meth:`SmtpSink.fail_next` makes the next MAIL commands answer a given code.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import socketserver
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

_MAX_LINE = 65536
_MAX_DATA = 10 * 1024 * 1024


@dataclass
class ReceivedMail:
    """One message the sink accepted."""

    mail_from: str
    rcpt_to: list[str]
    data: bytes
    user: str | None = None

    @property
    def message(self) -> EmailMessage:
        """The message parsed (``email.policy.default``)."""
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Session:
    user: str | None = None
    mail_from: str | None = None
    rcpt_to: list[str] = field(default_factory=list)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], owner: SmtpSink) -> None:
        self.owner = owner
        super().__init__(addr, _Connection)


class _Connection(socketserver.StreamRequestHandler):
    timeout = 30
    server: _Server

    def handle(self) -> None:
        sink = self.server.owner
        s = _Session()
        try:
            self._reply(f"220 {sink.hostname} ESMTP syncd-sandbox")
            while True:
                line = self._line()
                if line is None:
                    return
                verb, _, arg = line.partition(" ")
                verb = verb.upper()
                if verb == "QUIT":
                    self._reply("221 2.0.0 Bye")
                    return
                self._command(sink, s, verb, arg.strip())
        except (OSError, TimeoutError):
            pass  # the client went away

    def _line(self) -> str | None:
        raw = self.rfile.readline(_MAX_LINE)
        if not raw:
            return None
        return raw.decode("utf-8", errors="replace").rstrip("\r\n")

    def _reply(self, *lines: str) -> None:
        self.wfile.write(("".join(f"{line}\r\n" for line in lines)).encode())

    def _command(self, sink: SmtpSink, s: _Session, verb: str, arg: str) -> None:
        if verb == "EHLO":
            self._reply(f"250-{sink.hostname} greets {arg or 'you'}", "250-AUTH PLAIN LOGIN", "250-8BITMIME",
                        "250 SMTPUTF8")
        elif verb == "HELO":
            self._reply(f"250 {sink.hostname}")
        elif verb == "AUTH":
            self._auth(sink, s, arg)
        elif verb == "MAIL":
            self._mail(sink, s, arg)
        elif verb == "RCPT":
            if s.mail_from is None:
                self._reply("503 5.5.1 MAIL first")
                return
            address = _address(arg, "TO:")
            code = sink.refuse.get(address) if address else None
            if address is None:
                self._reply("501 5.1.3 bad recipient address syntax")
            elif code:
                self._reply(f"{code} {'4.2.1' if code < 500 else '5.1.1'} <{address}> refused by the sandbox")
            else:
                s.rcpt_to.append(address)
                self._reply("250 2.1.5 OK")
        elif verb == "DATA":
            self._data(sink, s)
        elif verb == "RSET":
            s.mail_from, s.rcpt_to = None, []
            self._reply("250 2.0.0 OK")
        elif verb == "NOOP":
            self._reply("250 2.0.0 OK")
        elif verb == "STARTTLS":
            self._reply("454 4.7.0 TLS not available in the sandbox")
        else:
            self._reply("502 5.5.2 command not recognised")

    def _auth(self, sink: SmtpSink, s: _Session, arg: str) -> None:
        mechanism, _, initial = arg.partition(" ")
        mechanism = mechanism.upper()
        try:
            if mechanism == "PLAIN":
                if not initial:
                    self._reply("334 ")
                    initial = self._line() or ""
                _, user, password = base64.b64decode(initial, validate=True).decode().split("\0")
            elif mechanism == "LOGIN":
                if not initial:
                    self._reply("334 " + base64.b64encode(b"Username:").decode())
                    initial = self._line() or ""
                user = base64.b64decode(initial, validate=True).decode()
                self._reply("334 " + base64.b64encode(b"Password:").decode())
                password = base64.b64decode(self._line() or "", validate=True).decode()
            else:
                self._reply("504 5.5.4 unrecognised authentication type")
                return
        except (ValueError, binascii.Error):
            self._reply("501 5.5.2 cannot decode the credentials")
            return
        if sink.users.get(user) == password:
            s.user = user
            self._reply("235 2.7.0 Authentication successful")
        else:
            self._reply("535 5.7.8 Authentication credentials invalid")

    def _mail(self, sink: SmtpSink, s: _Session, arg: str) -> None:
        if sink.users and s.user is None:
            self._reply("530 5.7.0 Authentication required")
            return
        forced = sink._take_failure()
        if forced is not None:
            code, text = forced
            self._reply(f"{code} {text}")
            return
        address = _address(arg, "FROM:")
        if address is None:
            self._reply("501 5.1.7 bad sender address syntax")
            return
        s.mail_from, s.rcpt_to = address, []
        self._reply("250 2.1.0 OK")

    def _data(self, sink: SmtpSink, s: _Session) -> None:
        if s.mail_from is None or not s.rcpt_to:
            self._reply("503 5.5.1 RCPT first")
            return
        self._reply("354 End data with <CR><LF>.<CR><LF>")
        chunks: list[bytes] = []
        size = 0
        while True:
            raw = self.rfile.readline(_MAX_LINE)
            if not raw:
                return
            if raw in (b".\r\n", b".\n"):
                break
            line = raw[1:] if raw.startswith(b"..") else raw
            size += len(line)
            if size <= _MAX_DATA:
                chunks.append(line)
        if size > _MAX_DATA:
            self._reply("552 5.3.4 message too big")
        else:
            n = sink._record(ReceivedMail(s.mail_from, list(s.rcpt_to), b"".join(chunks), s.user))
            self._reply(f"250 2.0.0 queued as sandbox-{n}")
        s.mail_from, s.rcpt_to = None, []


def _address(arg: str, tag: str) -> str | None:
    """The address of ``FROM:<a@b>`` / ``TO:<a@b>`` (parameters after it ignored)."""
    if not arg.upper().startswith(tag):
        return None
    rest = arg[len(tag):].strip()
    if rest.startswith("<"):
        end = rest.find(">")
        return rest[1:end] if end >= 0 else None
    return rest.split(" ")[0] or None


class SmtpSink:
    """The SMTP server: ``start()``, ``port``, ``messages()``, ``stop()``; also a context manager."""

    def __init__(self, *, users: Mapping[str, str] | None = None, refuse: Mapping[str, int] | None = None,
                 hostname: str = "sandbox.smtp", port: int = 0) -> None:
        self.users = dict(users or {})
        self.refuse = dict(refuse or {})
        self.hostname = hostname
        self._port = port
        self._lock = threading.Lock()
        self._mail: list[ReceivedMail] = []
        self._failures: list[tuple[int, str]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind 127.0.0.1 and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("SMTP sink already started")
        self._server = _Server(("127.0.0.1", self._port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sandbox-smtp", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("SMTP sink not started")
        return int(self._server.server_address[1])

    def fail_next(self, code: int, text: str = "sandbox failure", count: int = 1) -> None:
        """The next ``count`` MAIL commands answer ``code`` (421 / 451: transient, 550 / 554: refusal)."""
        with self._lock:
            self._failures.extend([(code, text)] * count)

    def messages(self) -> list[ReceivedMail]:
        """Every accepted message, oldest first."""
        with self._lock:
            return list(self._mail)

    def channel(self, **extra: object) -> dict[str, object]:
        """An ``alerts.yaml`` email channel entry pointing at this sink (no TLS)."""
        entry: dict[str, object] = {"id": "sandbox-email", "kind": "email", "host": "127.0.0.1", "port": self.port,
                                    "security": "plain", "from": "syncd@sandbox.test", "to": ["ops@sandbox.test"]}
        if self.users:
            user, password = next(iter(self.users.items()))
            entry.update(username=user, password=password)
        entry.update(extra)
        return entry

    def _take_failure(self) -> tuple[int, str] | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _record(self, mail: ReceivedMail) -> int:
        with self._lock:
            self._mail.append(mail)
            return len(self._mail)

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.stop()
