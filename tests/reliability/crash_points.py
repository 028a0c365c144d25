"""The crash points of ``tests/reliability/fault_wsgi.py``, importable without building its
app (importing that module creates the ledger's app from the environment: at a test's
collection it would open the checkout's own ``instance/`` database)."""

POINTS = ("before-answer", "after-commit")
