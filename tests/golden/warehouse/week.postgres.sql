WITH base AS (
  SELECT
    *,
    CAST("created_at" AS DATE) AS _day
  FROM (SELECT * FROM analytics.tickets) AS "tickets"
), keyed AS (
  SELECT
    *,
    CAST(_day - CAST((
      EXTRACT(ISODOW FROM _day) - 1 + 7
    ) %% 7 AS INT) AS DATE) AS _key
  FROM base
), rows AS (
  SELECT
    *
  FROM keyed
)
SELECT
  _key,
  CAST(COUNT(*) AS DOUBLE PRECISION) AS "tickets",
  CAST(AVG("csat") AS DOUBLE PRECISION) AS "csat"
FROM rows
GROUP BY
  _key
ORDER BY
  _key
