-- Candle store. One row per bar; series identity is normalised into `series`
-- so each candle row is 52 bytes of payload (int4 + int8 + 5 × float8) and the
-- primary key (series_id, open_time) is the only index: every read is a range
-- scan of one series, which that B-tree answers directly. Rows of one series
-- arrive in time order in pages of hundreds to thousands, so they sit together
-- on disk and a year of 15m bars reads a few hundred heap pages.
CREATE TABLE series (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    exchange    text    NOT NULL,
    market      text    NOT NULL CHECK (market IN ('spot', 'futures')),
    symbol      text    NOT NULL,
    timeframe   text    NOT NULL,
    tf_ms       bigint  NOT NULL CHECK (tf_ms > 0),
    -- Maintained by every write in the same transaction, so coverage is
    -- O(series) instead of a count over tens of millions of rows.
    bars        bigint  NOT NULL DEFAULT 0,
    first_open  bigint,
    last_open   bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (exchange, market, symbol, timeframe)
);

CREATE TABLE candles (
    series_id  integer NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    open_time  bigint  NOT NULL,
    open       double precision NOT NULL,
    high       double precision NOT NULL,
    low        double precision NOT NULL,
    close      double precision NOT NULL,
    volume     double precision NOT NULL,
    PRIMARY KEY (series_id, open_time)
) WITH (fillfactor = 100); -- closed bars are never updated
