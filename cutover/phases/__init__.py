"""Phases: what phases 1, 2 and 3 do, the plan, the checklists, status and the final report.

`run` orders each phase and records its evidence; `plan` is the assessment; `checklists`
keeps the ticked copies; `status` and `final_report` render what `run` and the checklists hold.

May import every package below it (`proof`, `load`, `rows`, `schema`, `sources`, `values`,
`envfiles`) and the base modules. Never `cutover.commands` or `cutover.cli`.
"""
