"""Stock and price kept in step with the suppliers (issue 19): the engine behind ``syncd stock`` and ``syncd catalog``.

- :mod:`syncd.stock.formula`: what a storefront SKU may show (pure).
- :mod:`syncd.stock.catalog`: the catalogue link per shop, and ``syncd catalog check``.
- :mod:`syncd.stock.intake`: supplier figures in (API read, signed push, 库存表 file).
- :mod:`syncd.stock.engine`: one stock pass: figures → targets → full-value writes, intent first, result after.
- :mod:`syncd.stock.guard`: the price guard (margin per SKU, alert, optional hold at zero).

Docs: docs/stock.md (the operator's part) and docs/storefront-stock.md (the platforms' side).
"""
