"""CSV/Excel drop-folder supplier (``kind: file``) for suppliers without an API.

``config`` (model), ``outbox`` (writing batches), ``rows`` (reading reply tables, pure),
``limits`` (bounds checked before and while a reply file is parsed: zip bombs, giant cells),
``readers`` (CSV and .xlsx streamed as rows), ``files`` (only regular files read, no link followed,
files created at the configured mode), ``inbox`` (listing, reading and moving reply files),
``retention`` (deleting old files), ``schedule`` (when a batch is due), ``adapter`` (the
FileSupplierAdapter gluing them together).
"""

from syncd.adapters.dropfolder.adapter import DropFolderSupplier, create
from syncd.adapters.dropfolder.config import Column, DropFolderConfig, Schedule
from syncd.adapters.dropfolder.schedule import batch_due
from syncd.registry import SupplierPlugin

PLUGIN = SupplierPlugin(kind="file", config_model=DropFolderConfig, factory=create)

__all__ = ["PLUGIN", "Column", "DropFolderConfig", "DropFolderSupplier", "Schedule", "batch_due", "create"]
