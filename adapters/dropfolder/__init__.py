"""CSV/Excel drop-folder supplier (``kind: file``) for suppliers without an API.

``config`` (model), ``outbox`` (writing batches), ``rows`` (reading reply tables, pure),
``inbox`` (listing, reading and moving reply files), ``schedule`` (when a batch is due),
``adapter`` (the FileSupplierAdapter gluing them together).
"""

from adapters.dropfolder.adapter import DropFolderSupplier, create
from adapters.dropfolder.config import Column, DropFolderConfig, Schedule
from adapters.dropfolder.schedule import batch_due
from syncd.registry import SupplierPlugin

PLUGIN = SupplierPlugin(kind="file", config_model=DropFolderConfig, factory=create)

__all__ = ["PLUGIN", "Column", "DropFolderConfig", "DropFolderSupplier", "Schedule", "batch_due", "create"]
