"""Spreadsheets from outside (a supplier's reply or stock file, the seller's routes table): one decoder for CSV in
the encodings Chinese offices write (UTF-8, GBK/GB18030, Big5, Excel's UTF-16) and for .xlsx, bounded in size,
rows, cells and zip structure before anything is parsed (:mod:`syncd.sheets.limits`, :mod:`syncd.sheets.decode`).
The drop-folder inbox and ``routes.csv`` / ``routes.xlsx`` both read through it."""
