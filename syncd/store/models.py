"""The data model of DESIGN.md as SQLAlchemy 2 tables. Schema changes go through Alembic only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, whatever the database keeps (SQLite keeps naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use syncd.clock")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}  # noqa: RUF012


class Shop(Base):
    """Runtime state of one configured shop (its settings live in YAML)."""

    __tablename__ = "shops"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    paused_reason: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_order_id", name="uq_orders_shop_order"),
        Index("ix_orders_state_recheck", "state", "recheck_at"),
        Index("ix_orders_shop_state", "shop_id", "state"),  # /metrics and status count orders per shop and state
        Index("ix_orders_platform_order_id", "platform_order_id"),  # reply files quote order numbers without the shop
        Index("ix_orders_paid_at", "paid_at"),  # reports read a period's orders by payment time (revision 0008)
        # the console (revision 0010): orders per shop and state over a date range, and the most urgent open orders
        # with the id on PostgreSQL (revision 0012), so the funnel reads the index alone (SQLite: the rowid is there)
        Index("ix_orders_seen_shop_state", "first_seen_at", "shop_id", "state", postgresql_include=["id"]),
        Index("ix_orders_state_ship_by", "state", "ship_by"),
        Index("ix_orders_shop_id", "shop_id", "id"),  # one shop's orders newest first: no sort of all (0012)
        Index("ix_orders_hold_reason", "hold_reason", "id"),  # likewise per hold reason, not a walk of all (0012)
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[str] = mapped_column(String(64))
    platform_order_id: Mapped[str] = mapped_column(String(64))
    platform_status: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    ready_to_ship: Mapped[bool] = mapped_column(Boolean)
    not_ready_reason: Mapped[str | None] = mapped_column(String(200))
    refund_state: Mapped[str] = mapped_column(String(16))
    payment_mode: Mapped[str] = mapped_column(String(16))
    paid_at: Mapped[datetime | None]
    ship_by: Mapped[datetime | None]
    platform_created_at: Mapped[datetime | None]
    platform_updated_at: Mapped[datetime]
    buyer_note: Mapped[str] = mapped_column(Text, default="")
    seller_memo: Mapped[str] = mapped_column(Text, default="")
    receiver: Mapped[dict[str, Any]]  # ciphertext and masked form only, never plaintext
    shipped_tracking: Mapped[list[Any]]
    raw: Mapped[dict[str, Any]] = mapped_column(deferred=True)  # the platform's payload: loaded only when asked
    payload_hash: Mapped[str] = mapped_column(String(40), default="")  # of raw: an unchanged re-read is skipped
    # pipeline state (syncd.lifecycle): new, held, routed, placed, shipped, cancelled
    state: Mapped[str] = mapped_column(String(16), index=True)
    hold_reason: Mapped[str | None] = mapped_column(String(32))
    recheck_at: Mapped[datetime | None]  # an automatic hold is evaluated again from then on
    # cash on delivery: a person called the buyer and confirmed (syncd orders confirm-cod); None = not confirmed
    cod_confirmed_at: Mapped[datetime | None]
    cod_confirmed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "platform_line_id", name="uq_order_lines_order_line"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    platform_line_id: Mapped[str] = mapped_column(String(64))
    platform_sku_id: Mapped[str] = mapped_column(String(64), default="")
    merchant_sku: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[str] = mapped_column(Text, default="")
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(Integer, default=0)
    refund_state: Mapped[str] = mapped_column(String(16), default="none")


class ExportBatch(Base):
    """One outbox file of a file supplier; every supplier order appears in exactly one."""

    __tablename__ = "export_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="orders")
    state: Mapped[str] = mapped_column(String(16))  # writing, written
    file_stem: Mapped[str] = mapped_column(String(200))
    file_name: Mapped[str | None] = mapped_column(String(255))
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    written_at: Mapped[datetime | None]


class SupplierOrder(Base):
    """采购单: one per (order, supplier) after splitting, with an idempotency key that never changes."""

    __tablename__ = "supplier_orders"
    __table_args__ = (Index("ix_supplier_orders_supplier_state", "supplier_id", "state"),
                      # refunds to pass on: a handful among every order the supplier ever shipped; with the state,
                      # the API suppliers' place claim (cancel_state none, pending or placing) reads only open
                      # rows, not the supplier's whole history (revision 0011)
                      Index("ix_supplier_orders_supplier_cancel_state", "supplier_id", "cancel_state", "state"),
                      # the watch stage's cancellation rule, over every supplier: only rows with a cancellation
                      # (revision 0013; its queries say ``cancel_state != 'none'`` so both databases use it)
                      Index("ix_supplier_orders_cancelling", "cancel_state", "supplier_id", "state",
                            sqlite_where=text("cancel_state <> 'none'"),
                            postgresql_where=text("cancel_state <> 'none'")))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    supplier_id: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="normal")
    lines: Mapped[list[Any]]
    # pending, placing, placed, shipped, cancelled, failed
    state: Mapped[str] = mapped_column(String(16))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("export_batches.id"), index=True)
    supplier_ref: Mapped[str | None] = mapped_column(String(100))
    placed_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # API suppliers (revision 0002)
    first_attempt_at: Mapped[datetime | None]  # the first send: bounds the look-up by idempotency key
    paid: Mapped[bool | None] = mapped_column(Boolean)  # None: not an API supplier / not known yet
    next_check_at: Mapped[datetime | None]  # when collect asks the supplier for its status again
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claim_until: Mapped[datetime | None]
    # cancellation after a refund: none, requested, cancelled, too_late (a person must act), notified (file)
    cancel_state: Mapped[str] = mapped_column(String(16), default="none")
    cancel_detail: Mapped[str | None] = mapped_column(Text)
    reship_of: Mapped[int | None] = mapped_column(ForeignKey("supplier_orders.id"))
    # unreadable supplier answers since the last clear one (revision 0010): backoff, then held for a person
    faults: Mapped[int] = mapped_column(Integer, default=0)
    # what the supplier charges for it, fen, freight included (revision 0008); None = not known. cost_source:
    # "supplier" (its own answer: 1688's order amount, a webhook supplier's amount_fen) or "config" (routes' cost)
    cost_fen: Mapped[int | None] = mapped_column(Integer)
    cost_source: Mapped[str | None] = mapped_column(String(16))


class Shipment(Base):
    """A parcel: supplier order + carrier + tracking number, with its write-back and logistics state."""

    __tablename__ = "shipments"
    __table_args__ = (
        UniqueConstraint("supplier_order_id", "tracking_no", name="uq_shipments_so_tracking"),
        # The write-back claim walks this in (order, parcel) order and stops at its batch size: no sort of
        # every pending parcel (a reply file of thousands) on each claim.
        Index("ix_shipments_writeback_order", "writeback_state", "order_id", "id"),
        Index("ix_shipments_track", "track_final", "next_check_at"),
        Index("ix_shipments_created", "created_at", "carrier", "logistics_state"),  # the console per carrier (0010)
        # the watch stage's parcel rules read the parcels still on their way, not every one ever delivered
        # (revision 0011)
        Index("ix_shipments_logistics_state", "logistics_state"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    supplier_order_id: Mapped[int] = mapped_column(ForeignKey("supplier_orders.id", ondelete="CASCADE"))
    carrier: Mapped[str] = mapped_column(String(32))
    carrier_text: Mapped[str] = mapped_column(String(64), default="")
    tracking_no: Mapped[str] = mapped_column(String(64), index=True)
    lines: Mapped[list[Any] | None]  # [{platform_line_id, quantity}] or None for the whole supplier order
    source: Mapped[str] = mapped_column(String(255), default="")
    # pending, uploading, uploaded, rejected, skipped
    writeback_state: Mapped[str] = mapped_column(String(16))
    writeback_attempts: Mapped[int] = mapped_column(Integer, default=0)
    writeback_error: Mapped[str | None] = mapped_column(Text)
    # unreadable storefront answers since the last clear one (revision 0010): set aside for a person at a limit
    writeback_faults: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claim_until: Mapped[datetime | None]
    uploaded_at: Mapped[datetime | None]
    logistics_state: Mapped[str] = mapped_column(String(16), default="none")
    last_event_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # tracking (revision 0002)
    handed_over_at: Mapped[datetime | None]  # the supplier's own send time, else when the number arrived
    picked_up_at: Mapped[datetime | None]  # the first carrier scan
    delivered_at: Mapped[datetime | None]
    track_verdict: Mapped[str | None] = mapped_column(String(64))  # the provider's own alarm (stalled, abort...)
    provider_state: Mapped[str | None] = mapped_column(String(32))
    track_final: Mapped[bool] = mapped_column(Boolean, default=False)  # stop following it
    last_checked_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None]
    subscribed_at: Mapped[datetime | None]
    province: Mapped[str] = mapped_column(String(32), default="")  # of the receiver: remote-region thresholds


class InboxFileRecord(Base):
    """A supplier reply file already imported: the same bytes dropped again change nothing."""

    __tablename__ = "inbox_files"
    __table_args__ = (UniqueConstraint("supplier_id", "sha256", name="uq_inbox_files_supplier_sha"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier_id: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    rows_ok: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    file_error: Mapped[str | None] = mapped_column(Text)
    errors: Mapped[list[Any]]  # [{row_no, reason, raw}] kept so a crash before the .errors.csv loses nothing
    processed_at: Mapped[datetime]


class Hold(Base):
    """An order that needs a person (or waits for a condition to clear)."""

    __tablename__ = "holds"
    __table_args__ = (Index("ix_holds_order_open", "order_id", "released_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    auto: Mapped[bool] = mapped_column(Boolean, default=True)  # clears by itself when the condition goes
    created_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(100))


class Cursor(Base):
    __tablename__ = "cursors"
    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    watermark: Mapped[datetime]
    updated_at: Mapped[datetime]


class TokenRow(Base):
    __tablename__ = "tokens"
    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    refresh_expires_at: Mapped[datetime | None]
    extra: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class Lease(Base):
    """A named lease (a shop's pull, a supplier's export): one holder at a time across replicas."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class AuditEntry(Base):
    """Every outside call that changes state on the other side: intent first, outcome after."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    system: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16))  # intent, ok, failed, unknown
    detail: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100), default="")  # which replica made the call


class StageRun(Base):
    """Per stage and scope (shop or supplier): the last success and the last error."""

    __tablename__ = "stage_runs"
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_started_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    last_skipped_at: Mapped[datetime | None]  # a run skipped: another holder had the scope's lease
    last_skip_reason: Mapped[str | None] = mapped_column(Text)


class Quarantine(Base):
    """A record we could not read (an order payload, a file): kept with the reason, never dropped."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class TrackingEvent(Base):
    """One scan of a parcel (time, normalised state, text, place); the same event seen twice is kept once."""

    __tablename__ = "tracking_events"
    __table_args__ = (UniqueConstraint("shipment_id", "digest", name="uq_tracking_events_shipment_digest"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(128), default="")
    digest: Mapped[str] = mapped_column(String(40))  # of (at, text): dedupes re-read histories
    source: Mapped[str] = mapped_column(String(32), default="")


class Alert(Base):
    """One alert: open while its condition holds. One OPEN alert per (rule, subject): ``open`` is True while
    open and NULL once resolved (NULLs never collide in a unique key, on SQLite and PostgreSQL alike)."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("rule", "subject", "open", name="uq_alerts_rule_subject_open"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str] = mapped_column(String(160))
    open: Mapped[bool | None] = mapped_column(Boolean, index=True)
    severity: Mapped[str] = mapped_column(String(16))
    shop_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    last_notified_at: Mapped[datetime | None]
    notify_count: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]
    acked_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None]


class Notification(Base):
    """A message waiting for (or delivered to) one channel; kept until it went out."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_pending", "channel", "sent_at", "not_before"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # open, remind, escalate, resolve, digest, daily, test
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    not_before: Mapped[datetime]  # quiet hours delay the notification, never the alert's timers
    sent_at: Mapped[datetime | None]
    message_id: Mapped[int | None] = mapped_column(Integer)  # the digest message it went out in
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class CallbackSeen(Base):
    """Pushes already accepted (by the sender's event id): a replay inside the time window changes nothing."""

    __tablename__ = "callbacks_seen"
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    at: Mapped[datetime]


class Usage(Base):
    """Counters per day (tracking queries used against the provider's budget)."""

    __tablename__ = "usage"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # Asia/Shanghai date, as providers count
    count: Mapped[int] = mapped_column(Integer, default=0)


# ---- stock and price (issue 19, revision 0009) ------------------------------------------------------------------


class StockCatalog(Base):
    """The catalogue link: which platform product / SKU carries a merchant SKU code in a shop, as its listing said
    at the last catalogue sync (price in fen, held-back quantity)."""

    __tablename__ = "stock_catalog"
    __table_args__ = (Index("ix_stock_catalog_shop_code", "shop_id", "merchant_sku"),)
    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # "" for a Taobao item without SKUs
    merchant_sku: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(Text, default="")
    on_sale: Mapped[bool] = mapped_column(Boolean, default=True)
    price_fen: Mapped[int | None] = mapped_column(Integer)
    reserved: Mapped[int | None] = mapped_column(Integer)  # held back by the platform (unpaid, activity locks)
    platform_stock: Mapped[int | None] = mapped_column(Integer)  # what the listing showed
    seen_at: Mapped[datetime]  # the catalogue sync that last listed it


class StockSupplier(Base):
    """A supplier's last figure for one of its SKUs (an API read, a push or a 库存表 row)."""

    __tablename__ = "stock_supplier"
    __table_args__ = (Index("ix_stock_supplier_due", "due"),)
    supplier_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    supplier_sku: Mapped[str] = mapped_column(String(128), primary_key=True)
    quantity: Mapped[int | None] = mapped_column(Integer)  # None: the supplier could not say
    price_fen: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(8))  # read, push, file
    observed_at: Mapped[datetime]  # when the figure was true (the push's / file's time, else when read)
    read_at: Mapped[datetime]  # when syncd recorded it
    error: Mapped[str | None] = mapped_column(Text)  # why the last read of it failed (the figure is kept)
    # a push or a file changed it: the storefronts are written now, not at the next interval
    due: Mapped[bool] = mapped_column(Boolean, default=False)


class StockWritten(Base):
    """What syncd wrote (or is writing) as one storefront SKU's stock: intent first, result after."""

    __tablename__ = "stock_written"
    __table_args__ = (Index("ix_stock_written_shop_code", "shop_id", "merchant_sku"),)  # a due pass's few SKUs
    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant_sku: Mapped[str] = mapped_column(String(128))
    value: Mapped[int | None] = mapped_column(Integer)  # the last value the platform confirmed
    written_at: Mapped[datetime | None]
    pending: Mapped[int | None] = mapped_column(Integer)  # being written: outcome unknown until cleared
    pending_at: Mapped[datetime | None]
    refused: Mapped[int | None] = mapped_column(Integer)  # a value the platform refused for good: not resent
    floor: Mapped[int | None] = mapped_column(Integer)  # the least the platform said it accepts
    last_error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed attempts since the last success


class StockMargin(Base):
    """The margin of one merchant SKU in one shop, and the price guard's hold on its stock."""

    __tablename__ = "stock_margin"
    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant_sku: Mapped[str] = mapped_column(String(128), primary_key=True)
    margin_fen: Mapped[int | None] = mapped_column(Integer)
    storefront_price_fen: Mapped[int | None] = mapped_column(Integer)
    supplier_cost_fen: Mapped[int | None] = mapped_column(Integer)  # supplier price × units per sale
    floor_fen: Mapped[int | None] = mapped_column(Integer)
    low: Mapped[bool] = mapped_column(Boolean, default=False)  # below the floor now
    held: Mapped[bool] = mapped_column(Boolean, default=False)  # stock kept at zero until a person decides
    released_cost_fen: Mapped[int | None] = mapped_column(Integer)  # the cost a person accepted (stock release)
    released_by: Mapped[str | None] = mapped_column(String(100))
    released_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class ReportStale(Base):
    """A write that may change a report's figures for a day of payment, not yet applied to the daily summary
    (revision 0014): written by database triggers on orders, order lines, supplier orders and parcels. The
    order's id (its day is its payment's), or the payment time it had (an order moved or deleted)."""

    __tablename__ = "report_stale"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int | None] = mapped_column(Integer)
    paid_at: Mapped[datetime | None]


class ReportDay(Base):
    """One day of payment in the reports' daily summary (revision 0014): clean once rolled up, until a write
    marks it stale. ``basis``: the zone and commission rates it was counted with; ``due_until``: the latest
    ship-by time of its orders not yet uploaded (before then the on-time counts depend on the hour)."""

    __tablename__ = "report_days"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    clean: Mapped[bool] = mapped_column(Boolean, default=False)
    basis: Mapped[str] = mapped_column(Text, default="")
    due_until: Mapped[datetime | None]
    rolled_at: Mapped[datetime | None]


class ReportSummary(Base):
    """The exact partial figures of one day, grouping and group key (revision 0014; syncd/reports/summary.py)."""

    __tablename__ = "report_summary"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    grouping: Mapped[str] = mapped_column(String(16), primary_key=True)  # shop … day, "" (total), province
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    data: Mapped[str] = mapped_column(Text)  # JSON (syncd/reports/summary.py)
