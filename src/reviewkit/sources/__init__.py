"""Sources: the KPI exports declared in reviewkit.yaml, read into DuckDB exactly as declared
(:mod:`.exports`), or queried where they live in a SQL engine (:mod:`.warehouse`)."""
