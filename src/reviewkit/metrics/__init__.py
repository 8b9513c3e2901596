"""Metrics: the KPI catalogue as SQL (:mod:`.catalogue`), a project's KPIs queried over its
sources (:mod:`.workspace`), how much of a period the data covers (:mod:`.coverage`), honest
comparisons (:mod:`.compare`), targets and status (:mod:`.targets`), and wbr-app's numbers
(:mod:`.wbr_app`)."""
