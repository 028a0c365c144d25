"""Issuing codes and printing them: QR labels as PNG and SVG, engraving SVG, A4 PDF sheets.

``layout`` places the QR, the code in large type, the owner and the model on a label
in millimetres; ``png``, ``svg`` and ``sheet`` draw that same layout (``sheet_layouts``
names the A4 stocks; Pillow and reportlab load only when a PNG or a sheet is drawn);
``batch`` turns a CSV into registrations (``python -m labels``, ``flask labels issue``);
``records`` reads what a label says from the ledger for those allowed to print it.
"""
