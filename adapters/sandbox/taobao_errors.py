"""The ``error_response`` a Taobao simulator call answers with (reference/storefronts.md §3.7).

Codes below 100 are TOP's platform codes; business refusals are code 15 with an ``isv.*`` sub_code.
Where the reference leaves the exact sub_code of a refusal open, the simulator picks one and the
module that raises it says so.
"""

from __future__ import annotations

MESSAGES = {
    7: "App Call Limited", 10: "Service Currently Unavailable", 15: "Remote service error",
    21: "Missing Method", 22: "Invalid Method", 24: "Missing signature", 25: "Invalid signature",
    26: "Missing session", 27: "Invalid session", 28: "Missing App Key", 29: "Invalid App Key",
    30: "Missing timestamp", 31: "Invalid timestamp", 32: "Missing version", 34: "Unsupported version",
    40: "Missing required arguments", 41: "Invalid arguments",
}


class TopError(Exception):
    """A refusal: ``code`` and ``msg``, optionally ``sub_code`` and ``sub_msg``."""

    def __init__(self, code: int, sub_code: str = "", sub_msg: str = "") -> None:
        super().__init__(f"{code} {sub_code}: {sub_msg}")
        self.code, self.sub_code, self.sub_msg = code, sub_code, sub_msg
        self.msg = MESSAGES.get(code, "Remote service error")

    def body(self, request_id: str) -> dict[str, object]:
        """The ``error_response`` object."""
        out: dict[str, object] = {"code": self.code, "msg": self.msg}
        if self.sub_code:
            out["sub_code"] = self.sub_code
        if self.sub_msg:
            out["sub_msg"] = self.sub_msg
        out["request_id"] = request_id
        return out


def missing(name: str) -> TopError:
    """40: a required parameter is absent."""
    return TopError(40, f"isv.missing-parameter:{name}", f"缺少必选参数:{name}")


def invalid(name: str, why: str = "") -> TopError:
    """41: a parameter is invalid."""
    return TopError(41, f"isv.invalid-parameter:{name}", why or f"非法的参数:{name}")


def logistics(sub: str, why: str) -> TopError:
    """15 ``isv.logistics-offline-service-error:<sub>`` (reference §3.5)."""
    return TopError(15, f"isv.logistics-offline-service-error:{sub}", why)
