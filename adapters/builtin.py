"""Registers the adapters shipped with syncd (imported by :func:`syncd.registry.load_builtin`)."""

from adapters.douyin import PLUGIN as DOUYIN
from adapters.dropfolder import PLUGIN as DROPFOLDER
from syncd.registry import register_storefront, register_supplier

register_storefront(DOUYIN)
register_supplier(DROPFOLDER)
