"""Registers the adapters shipped with syncd (imported by :func:`syncd.registry.load_builtin`)."""

from adapters.douyin import PLUGIN as DOUYIN
from adapters.dropfolder import PLUGIN as DROPFOLDER
from adapters.pdd import PLUGIN as PDD
from adapters.taobao import PLUGIN as TAOBAO
from syncd.registry import register_storefront, register_supplier

for _storefront in (DOUYIN, PDD, TAOBAO):
    register_storefront(_storefront)
register_supplier(DROPFOLDER)
