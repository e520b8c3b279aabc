-- The followed universe as an admin edited it in the web app: it replaces
-- the config file's [follow] venue market, symbols and timeframes (the
-- file keeps the tuning knobs). One row; followers restart when it changes.
CREATE TABLE follow_config (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    edit        jsonb   NOT NULL,
    updated_by  bigint  REFERENCES users (id) ON DELETE SET NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
