"""Registers the adapters shipped with syncd (imported by :func:`syncd.registry.load_builtin`)."""

from syncd.adapters.alerts import SINK_PLUGINS
from syncd.adapters.alibaba import PLUGIN as ALIBABA
from syncd.adapters.douyin import PLUGIN as DOUYIN
from syncd.adapters.dropfolder import PLUGIN as DROPFOLDER
from syncd.adapters.kuaidi100 import PLUGIN as KUAIDI100
from syncd.adapters.pdd import PLUGIN as PDD
from syncd.adapters.taobao import PLUGIN as TAOBAO
from syncd.adapters.webhook import PLUGIN as WEBHOOK
from syncd.registry import register_sink, register_storefront, register_supplier, register_tracking

for _storefront in (DOUYIN, PDD, TAOBAO):
    register_storefront(_storefront)
register_supplier(DROPFOLDER)
register_supplier(ALIBABA)
register_supplier(WEBHOOK)
register_tracking(KUAIDI100)
for _sink in SINK_PLUGINS:
    register_sink(_sink)
