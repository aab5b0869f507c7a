"""Proof: parity between source and target, the load report, the pytest plugin, the app's tests.

`verify` compares counts and order-independent digests per table and bucket and names the
first differing keys; `report` renders load and verify results; `pytest_plugin` lets an app's CI
assert parity; `app_tests` runs the app's own test command against the target.

May import: `cutover.load`, `cutover.rows`, `cutover.schema`, `cutover.sources`,
`cutover.values` and the base modules. Never `cutover.phases`.
"""
