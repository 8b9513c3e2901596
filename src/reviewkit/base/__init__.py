"""What every stage stands on: errors, files written atomically, YAML with line numbers, the one
clock, periods and calendars, DuckDB connections and SQL quoting, database URLs, the Jupyter
kernels reviewkit starts, cron expressions and the notebooks and templates it ships."""
