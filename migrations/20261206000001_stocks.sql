-- Stocks: which provider supplied each range of a series, how its prices
-- are adjusted, and the unadjusted closes kept for display.

CREATE TABLE series_sources (
    series_id   integer NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    -- The asked range [from_ms, to_ms) this provider answered (bars or none).
    from_ms     bigint  NOT NULL,
    to_ms       bigint  NOT NULL CHECK (to_ms > from_ms),
    provider    text    NOT NULL,
    -- raw (as traded), split (split-adjusted) or all (splits and dividends).
    adjustment  text    NOT NULL CHECK (adjustment IN ('raw', 'split', 'all')),
    PRIMARY KEY (series_id, from_ms)
);

-- Closes as traded, where the stored bars are adjusted (research uses the
-- adjusted bars; charts and plans show what the tape printed).
CREATE TABLE candle_raw_close (
    series_id  integer NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    open_time  bigint  NOT NULL,
    close      double precision NOT NULL,
    PRIMARY KEY (series_id, open_time)
);
