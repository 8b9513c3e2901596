WITH base AS (
  SELECT
    *,
    CAST("created_at" AS DATE) AS _day
  FROM (SELECT * FROM analytics.tickets) AS "tickets"
), keyed AS (
  SELECT
    *,
    CAST(DATE_TRUNC('MONTH', _day) - CAST((
      (
        EXTRACT(MONTH FROM _day) - 2 + 12
      ) %% 12
    ) %% 3 AS INT) * INTERVAL '1 MONTH' AS DATE) AS _key
  FROM base
), rows AS (
  SELECT
    *
  FROM keyed
)
SELECT
  _key,
  CAST(COUNT(*) AS DOUBLE PRECISION) AS "tickets"
FROM rows
GROUP BY
  _key
ORDER BY
  _key
