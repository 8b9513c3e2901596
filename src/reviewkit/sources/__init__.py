"""Sources: the KPI exports declared in reviewkit.yaml, read into DuckDB exactly as declared
(:mod:`.loading`), or queried where they live in a SQL engine (:mod:`.warehouse`).

A file is read by the reader of its format (:mod:`.readers`), which types its columns as
declared (:mod:`.columns`) and says precisely what is wrong when it cannot (:mod:`.forensics`);
it is cached as Parquet, and each query's result too (:mod:`.cache`); every load checks the rows
the declaration forbids (:mod:`.quality`). A loaded source (:mod:`.loaded`) is what the metrics
query."""
