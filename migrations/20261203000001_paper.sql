-- Paper accounts: a user's fake-money account following signals on the
-- engine's own book. Every step of an account (one bar close, a halt, a
-- resume) is one transaction that writes its orders, order events, fills,
-- ledger entries, closed trades, equity mark and positions, and replaces
-- the account's checkpoint; after a crash the account resumes from the
-- last committed step and replays the bars after it.
CREATE TABLE paper_accounts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    capital     numeric NOT NULL CHECK (capital > 0),
    profile     text    NOT NULL CHECK (profile IN ('low', 'medium', 'high')),
    -- Which signals it takes: every accepted one, those of `symbols`, or
    -- none by itself (manual "Take" from the board).
    follow_mode text    NOT NULL CHECK (follow_mode IN ('all', 'symbols', 'manual')),
    symbols     text[]  NOT NULL DEFAULT '{}',
    -- The series it trades, in the book's symbol order.
    series_ids  integer[] NOT NULL,
    timeframe   text    NOT NULL,
    state       text    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'reducing', 'halted')),
    -- {cause, detail, at} of the halt in force.
    halt        jsonb,
    -- trading::matcher::PaperAccount, CBOR (exact f64 bits).
    checkpoint  bytea   NOT NULL,
    -- Open time of the last bar close applied; the first close it decides at follows it.
    applied_until bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX paper_accounts_user ON paper_accounts (user_id);

CREATE TABLE paper_orders (
    account_id  bigint  NOT NULL REFERENCES paper_accounts (id) ON DELETE CASCADE,
    client_id   text    NOT NULL,
    symbol      text    NOT NULL,
    side        text    NOT NULL CHECK (side IN ('buy', 'sell')),
    kind        text    NOT NULL,
    purpose     text    NOT NULL,
    qty         numeric NOT NULL,
    price       numeric,
    reduce_only boolean NOT NULL,
    status      text    NOT NULL,
    filled_qty  numeric NOT NULL,
    avg_price   numeric,
    fees        numeric NOT NULL,
    created_ms  bigint  NOT NULL,
    updated_ms  bigint  NOT NULL,
    PRIMARY KEY (account_id, client_id)
);
CREATE INDEX paper_orders_open ON paper_orders (account_id, status);

CREATE TABLE paper_order_events (
    account_id  bigint  NOT NULL,
    client_id   text    NOT NULL,
    seq         integer NOT NULL,
    time        bigint  NOT NULL,
    -- OrderSubmitted, OrderFilled, …
    name        text    NOT NULL,
    detail      jsonb   NOT NULL,
    PRIMARY KEY (account_id, client_id, seq),
    FOREIGN KEY (account_id, client_id) REFERENCES paper_orders (account_id, client_id) ON DELETE CASCADE
);

CREATE TABLE paper_fills (
    account_id  bigint  NOT NULL REFERENCES paper_accounts (id) ON DELETE CASCADE,
    trade_id    text    NOT NULL,
    client_id   text    NOT NULL,
    symbol      text    NOT NULL,
    side        text    NOT NULL,
    time        bigint  NOT NULL,
    qty         numeric NOT NULL,
    price       numeric NOT NULL,
    fee         numeric NOT NULL,
    liquidity   text    NOT NULL CHECK (liquidity IN ('maker', 'taker')),
    -- A trade id is applied once.
    PRIMARY KEY (account_id, trade_id)
);

-- The money: balance = capital + sum(amount).
CREATE TABLE paper_ledger (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint  NOT NULL REFERENCES paper_accounts (id) ON DELETE CASCADE,
    time        bigint  NOT NULL,
    kind        text    NOT NULL CHECK (kind IN ('realised_pnl', 'fee', 'funding')),
    symbol      text    NOT NULL,
    amount      numeric NOT NULL,
    client_id   text,
    trade_id    text
);
CREATE INDEX paper_ledger_account ON paper_ledger (account_id, time);

CREATE TABLE paper_trades (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint  NOT NULL REFERENCES paper_accounts (id) ON DELETE CASCADE,
    symbol      text    NOT NULL,
    side        text    NOT NULL,
    signal_time bigint  NOT NULL,
    entry_time  bigint  NOT NULL,
    exit_time   bigint  NOT NULL,
    exit_reason text    NOT NULL,
    entry_price double precision NOT NULL,
    qty         double precision NOT NULL,
    tp1_hit     boolean NOT NULL,
    pnl         double precision NOT NULL,
    return_pct  double precision NOT NULL,
    -- Who made the signal ("technical rule …", "universal 15m v3 (#7)").
    source      text,
    -- engine::book::Trade as JSON (every exit fill).
    detail      jsonb   NOT NULL
);
CREATE INDEX paper_trades_account ON paper_trades (account_id, exit_time);

CREATE TABLE paper_equity (
    account_id  bigint  NOT NULL REFERENCES paper_accounts (id) ON DELETE CASCADE,
    time        bigint  NOT NULL,
    equity      double precision NOT NULL,
    drawdown_pct double precision NOT NULL,
    open_positions integer NOT NULL,
    PRIMARY KEY (account_id, time)
);

-- Open positions as of the last step (replaced with each step).
CREATE TABLE paper_positions (
    account_id  bigint  NOT NULL REFERENCES paper_accounts (id) ON DELETE CASCADE,
    symbol      text    NOT NULL,
    side        text    NOT NULL,
    qty         double precision NOT NULL,
    qty_open    double precision NOT NULL,
    entry_price double precision NOT NULL,
    entry_time  bigint  NOT NULL,
    stop        double precision NOT NULL,
    take_profit double precision[] NOT NULL,
    targets_hit integer NOT NULL,
    leverage    double precision NOT NULL,
    PRIMARY KEY (account_id, symbol)
);

-- Signals an account took or refused, and why.
CREATE TABLE paper_decisions (
    account_id  bigint  NOT NULL REFERENCES paper_accounts (id) ON DELETE CASCADE,
    time        bigint  NOT NULL,
    symbol      text    NOT NULL,
    accepted    boolean NOT NULL,
    reason      text,
    -- Who made the signal ("technical rule …", "universal 15m v3 (#7)").
    source      text,
    PRIMARY KEY (account_id, time, symbol)
);

-- The global kill switch: in force while a row has no cleared_at.
CREATE TABLE trading_halts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reason      text    NOT NULL,
    flatten     boolean NOT NULL,
    by_user     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    cleared_at  timestamptz
);
CREATE UNIQUE INDEX trading_halts_one_active ON trading_halts ((true)) WHERE cleared_at IS NULL;
