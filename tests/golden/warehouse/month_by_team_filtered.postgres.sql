WITH base AS (
  SELECT
    *,
    CAST("created_at" AS DATE) AS _day
  FROM (SELECT * FROM analytics.tickets) AS "tickets"
  WHERE
    CAST("channel" AS TEXT) IN (
      SELECT
        UNNEST(%(rf0)s)
    )
    AND CAST("created_at" AS DATE) >= %(start)s
    AND CAST("created_at" AS DATE) <= %(end)s
), keyed AS (
  SELECT
    *,
    CAST(DATE_TRUNC('MONTH', _day) AS DATE) AS _key
  FROM base
), rows AS (
  SELECT
    *
  FROM keyed
)
SELECT
  _key,
  "team",
  CAST(COUNT(*) AS DOUBLE PRECISION) AS "tickets",
  CAST(AVG("csat") AS DOUBLE PRECISION) AS "csat",
  CAST(AVG("resolution_hours") AS DOUBLE PRECISION) AS "resolution_hours"
FROM rows
GROUP BY
  _key,
  "team"
ORDER BY
  _key,
  "team"
