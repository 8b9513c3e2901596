WITH base AS (
  SELECT
    *,
    CAST(`created_at` AS DATE) AS _day
  FROM (SELECT * FROM analytics.tickets) AS `tickets`
  WHERE
    CAST(`channel` AS STRING) IN (
      SELECT
        EXPLODE(:rf0)
    )
    AND CAST(`created_at` AS DATE) >= :start
    AND CAST(`created_at` AS DATE) <= :end
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
  `team`,
  CAST(COUNT(*) AS DOUBLE) AS `tickets`,
  CAST(AVG(`csat`) AS DOUBLE) AS `csat`,
  CAST(AVG(`resolution_hours`) AS DOUBLE) AS `resolution_hours`
FROM rows
GROUP BY
  _key,
  `team`
ORDER BY
  _key NULLS LAST,
  `team` NULLS LAST
