"""Schema: the neutral model of a source's catalog, the type map and the Alembic revisions.

`model` is what a source's `reflect()` returns (tables, columns, indexes, keys, views); `typemap`
and `mapping` turn it into a `SchemaPlan` (a Postgres type and a coercion per column, names that
fit); `migrations` renders that plan as Alembic revisions and runs them.

May import: `cutover.sources` (to reflect and profile), `cutover.values`, and the base modules
(`config`, `urls`, `errors`). Never the load, proof or phases packages.
"""
