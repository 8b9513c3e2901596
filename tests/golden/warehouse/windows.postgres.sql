WITH base AS (
  SELECT
    *,
    CAST("created_at" AS DATE) AS _day
  FROM (SELECT * FROM analytics.tickets) AS "tickets"
  WHERE
    CAST("created_at" AS DATE) BETWEEN %(wmin)s AND %(wmax)s
), keyed AS (
  SELECT
    base.*,
    w.name AS _key
  FROM base
  JOIN (VALUES
    (%(wn0)s, %(ws0)s, %(we0)s),
    (%(wn1)s, %(ws1)s, %(we1)s)) AS w(name, ws, we)
    ON base._day BETWEEN w.ws AND w.we
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
