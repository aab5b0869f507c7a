"""Load: phase 2's data movement — chunks, COPY into Postgres, rejects, keys, resume.

`run` is phase 2 end to end (preflight, tables revision, the load, the keys revision);
`scheduler` splits tables into chunks and runs them on worker processes; `pipeline` loads one
chunk through `cutover.rows`; `target` speaks to Postgres; `state` is the `_cutover` schema
that makes a run resumable; `rejects` writes reject files; `keys_build` builds the keys revision.

May import: `cutover.rows`, `cutover.schema`, `cutover.sources`, `cutover.values` and the base
modules. Never `cutover.proof` or `cutover.phases`.
"""
