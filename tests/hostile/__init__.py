"""The attacks and faults syncd survives, one file per front; read the docstrings as the list.

- ``test_listener.py``: both HTTP ports through real sockets: slow heads and bodies (slowloris), idle and
  half-sent connections, oversized and chunked bodies, heads over 16 KiB, connection and handler caps (503
  at once), malformed request lines and versions, forged and unknown-supplier callbacks (one identical 401),
  Kuaidi100 ``sid`` values that are not ASCII digits or overflow, refusals logged once per source a minute.
- ``test_pushes.py``: Kuaidi100 pushes replayed or arriving out of order: a parcel's state never moves back.
- ``test_inbox_files.py`` (builders and a peak-memory probe in ``inbox_files.py``): crafted reply files: zip
  bombs, a giant shared string, lying zip sizes, a 49 MB CSV, wide rows, thousands of bad rows, garbage named
  ``.xlsx``, symlinks out of the inbox, fifos, a file name with a newline (log injection), formula cells.
- ``test_garbled_answers.py``: an unreadable answer (HTML with HTTP 200, truncated JSON) or an unexpected
  exception in the middle of a batch, in every stage that loops over outside calls: the rest completes.
- ``test_database_outage.py``: the database drops every connection for a while (PostgreSQL behind a proxy
  the test runs, SQLite refusing connections): one line per stage each way, no traceback, nothing lost.
- ``test_disk_full.py``: the supplier folders' disk fills up or stops being writable: operator words, an
  alert at once, readiness fails once it lasts, every order goes out exactly once when space returns.

Every test here failed on the code before its fix (issue 16 and issue 15).
"""
