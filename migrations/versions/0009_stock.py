"""Stock and price kept in step (issue 19): the catalogue link per shop, suppliers' stock figures, what was
written to each storefront SKU (intent and result), and the price guard's margin state

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock_catalog",
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("sku_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_sku", sa.String(length=128), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("on_sale", sa.Boolean(), nullable=False),
        sa.Column("price_fen", sa.Integer(), nullable=True),
        sa.Column("reserved", sa.Integer(), nullable=True),
        sa.Column("platform_stock", sa.Integer(), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "product_id", "sku_id", name=op.f("pk_stock_catalog")),
    )
    with op.batch_alter_table("stock_catalog", schema=None) as batch_op:
        batch_op.create_index("ix_stock_catalog_shop_code", ["shop_id", "merchant_sku"], unique=False)
    op.create_table(
        "stock_supplier",
        sa.Column("supplier_id", sa.String(length=64), nullable=False),
        sa.Column("supplier_sku", sa.String(length=128), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("price_fen", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("due", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("supplier_id", "supplier_sku", name=op.f("pk_stock_supplier")),
    )
    with op.batch_alter_table("stock_supplier", schema=None) as batch_op:
        batch_op.create_index("ix_stock_supplier_due", ["due"], unique=False)
    op.create_table(
        "stock_written",
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("sku_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_sku", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Integer(), nullable=True),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pending", sa.Integer(), nullable=True),
        sa.Column("pending_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refused", sa.Integer(), nullable=True),
        sa.Column("floor", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "product_id", "sku_id", name=op.f("pk_stock_written")),
    )
    with op.batch_alter_table("stock_written", schema=None) as batch_op:
        batch_op.create_index("ix_stock_written_shop_code", ["shop_id", "merchant_sku"], unique=False)
    op.create_table(
        "stock_margin",
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_sku", sa.String(length=128), nullable=False),
        sa.Column("margin_fen", sa.Integer(), nullable=True),
        sa.Column("storefront_price_fen", sa.Integer(), nullable=True),
        sa.Column("supplier_cost_fen", sa.Integer(), nullable=True),
        sa.Column("floor_fen", sa.Integer(), nullable=True),
        sa.Column("low", sa.Boolean(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("released_cost_fen", sa.Integer(), nullable=True),
        sa.Column("released_by", sa.String(length=100), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "merchant_sku", name=op.f("pk_stock_margin")),
    )


def downgrade() -> None:
    op.drop_table("stock_margin")
    with op.batch_alter_table("stock_written", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_written_shop_code")
    op.drop_table("stock_written")
    with op.batch_alter_table("stock_supplier", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_supplier_due")
    op.drop_table("stock_supplier")
    with op.batch_alter_table("stock_catalog", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_catalog_shop_code")
    op.drop_table("stock_catalog")
