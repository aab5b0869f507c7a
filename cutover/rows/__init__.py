"""Rows: the one path from a source row to a target row and its canonical form.

Reading a batch of source rows, coercing it under the table's column plan and computing each
row's canonical digest happen here and nowhere else: the load, verify and plan's probe all call
this package, so they cannot disagree about what a row is.

May import: `cutover.schema`, `cutover.sources`, `cutover.values` and the base modules.
"""
