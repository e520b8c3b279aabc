-- Alternative data: news and social items scored offline, and macro series
-- as released (each value with the day it became known, revisions too).

CREATE TABLE sentiment_items (
    -- newsapi, reddit, or import (a file).
    source        text   NOT NULL,
    -- The source's id (article URL, Reddit fullname) or, for a file, a hash of the row.
    item_id       text   NOT NULL,
    -- The ticker it is about (NVDA, BTC): a symbol's base asset.
    ticker        text   NOT NULL,
    -- Publish time: the item counts from then on, never before.
    published_ms  bigint NOT NULL,
    score         double precision NOT NULL CHECK (score >= -1 AND score <= 1),
    text          text,
    PRIMARY KEY (source, item_id, ticker)
);
CREATE INDEX sentiment_items_ticker_time ON sentiment_items (ticker, published_ms);

CREATE TABLE macro_observations (
    -- FRED series id (CPIAUCSL, DFF, DGS10, VIXCLS, UNRATE).
    series       text   NOT NULL,
    -- Start of the period the value describes.
    period_ms    bigint NOT NULL,
    -- When this value was published; a revision is a later row of the same period.
    released_ms  bigint NOT NULL,
    value        double precision NOT NULL,
    -- fred (its API), or import.
    source       text   NOT NULL,
    PRIMARY KEY (series, period_ms, released_ms)
);
