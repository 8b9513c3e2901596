WITH base AS (
  SELECT
    *,
    CAST(`created_at` AS DATE) AS _day
  FROM (SELECT * FROM analytics.tickets) AS `tickets`
  WHERE
    CAST(`created_at` AS DATE) BETWEEN :wmin AND :wmax
), keyed AS (
  SELECT
    base.*,
    w.name AS _key
  FROM base
  JOIN VALUES
    (:wn0, :ws0, :we0),
    (:wn1, :ws1, :we1) AS w(name, ws, we)
    ON base._day BETWEEN w.ws AND w.we
), rows AS (
  SELECT
    *
  FROM keyed
)
SELECT
  _key,
  CAST(COUNT(*) AS DOUBLE) AS `tickets`
FROM rows
GROUP BY
  _key
ORDER BY
  _key NULLS LAST
