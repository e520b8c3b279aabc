-- A paper account's broker: a venue connection (Binance USDⓈ-M) whose
-- orders follow the account's. It starts in dry-run — every order the
-- account places is signed and validated by the venue
-- (`/fapi/v1/order/test`) and nothing is placed — and goes live only by an
-- admin's switch (who, when). The API key and secret are sealed with
-- AES-256-GCM under TRADERAI_SECRET_KEY; only the key's first characters
-- are kept in the clear, to tell connections apart.
CREATE TABLE venue_connections (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint  NOT NULL UNIQUE REFERENCES paper_accounts (id) ON DELETE CASCADE,
    venue       text    NOT NULL CHECK (venue IN ('binance-usdm')),
    base_url    text    NOT NULL,
    key_hint    text    NOT NULL,
    api_key     bytea   NOT NULL,
    api_secret  bytea   NOT NULL,
    mode        text    NOT NULL DEFAULT 'dry_run' CHECK (mode IN ('dry_run', 'live')),
    live_by     text,
    live_at     timestamptz,
    CHECK ((mode = 'live') = (live_by IS NOT NULL AND live_at IS NOT NULL)),
    -- trading::live::LiveAccount, CBOR: the venue side of the account (live mode).
    checkpoint  bytea,
    -- How many of the checkpoint's notes and trades are already journal rows.
    noted       integer NOT NULL DEFAULT 0,
    traded      integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- What the venue side did: dry-run validations and refusals, venue trades,
-- divergences from the account's own (predicted) fills, reconciliations,
-- the switch to live. Written in the paper step's transaction.
CREATE TABLE venue_journal (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id bigint  NOT NULL REFERENCES venue_connections (id) ON DELETE CASCADE,
    time          bigint  NOT NULL,
    kind          text    NOT NULL CHECK (kind IN ('validated', 'refused', 'trade', 'divergence', 'reconciled', 'answer_lost', 'mode', 'error')),
    detail        jsonb   NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX venue_journal_connection ON venue_journal (connection_id, id);
