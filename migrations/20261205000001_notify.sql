-- Notifications. Whatever causes an event writes it to notify_events in its
-- own transaction (a signal stored, a paper step, a halt, a job's end), so
-- an event exists exactly when its cause does. The notifier fans each event
-- out to the channels of the users it concerns (one notify_deliveries row
-- per event and channel, unique, so a fan-out repeated after a crash adds
-- nothing), then delivers each row with retries and backoff, holding the
-- row's lock while it sends so two notifiers never send the same row.

-- A user's channels. The address or token is sealed with AES-256-GCM under
-- TRADERAI_SECRET_KEY and never returned; `hint` tells channels apart.
CREATE TABLE notify_channels (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text    NOT NULL CHECK (kind IN ('telegram', 'discord', 'webhook', 'sms', 'email')),
    hint        text    NOT NULL,
    sealed      bytea   NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notify_channels_user ON notify_channels (user_id);

-- What a user wants to hear about, and when not.
CREATE TABLE notify_prefs (
    user_id      bigint  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    events       text[]  NOT NULL,
    -- Minutes after local midnight; quiet hours hold what is not urgent until they end.
    quiet_from   smallint CHECK (quiet_from BETWEEN 0 AND 1439),
    quiet_to     smallint CHECK (quiet_to BETWEEN 0 AND 1439),
    CHECK ((quiet_from IS NULL) = (quiet_to IS NULL)),
    timezone     text    NOT NULL DEFAULT 'UTC',
    -- The daily summary's local time (NULL: none) and the last local day it was sent for.
    daily_at     smallint CHECK (daily_at BETWEEN 0 AND 1439),
    daily_last   date,
    -- Messages per channel per hour; more wait for the window to move.
    rate_per_hour integer NOT NULL DEFAULT 30 CHECK (rate_per_hour > 0)
);

CREATE TABLE notify_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text    NOT NULL,
    -- The one user it is for; NULL: everyone it concerns (admins for admin kinds).
    user_id     bigint  REFERENCES users (id) ON DELETE CASCADE,
    -- A test message goes to one channel only.
    channel_id  bigint  REFERENCES notify_channels (id) ON DELETE CASCADE,
    -- The cause's identity: writing the same cause twice is one event.
    dedupe      text    NOT NULL UNIQUE,
    payload     jsonb   NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    fanned_out_at timestamptz
);
CREATE INDEX notify_events_pending ON notify_events (id) WHERE fanned_out_at IS NULL;

CREATE TABLE notify_deliveries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    bigint  NOT NULL REFERENCES notify_events (id) ON DELETE CASCADE,
    channel_id  bigint  NOT NULL REFERENCES notify_channels (id) ON DELETE CASCADE,
    -- The message as rendered for this user (their plan for a signal).
    message     jsonb   NOT NULL,
    status      text    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    next_at     timestamptz NOT NULL DEFAULT now(),
    last_error  text,
    sent_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, channel_id)
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (next_at) WHERE status = 'pending';
CREATE INDEX notify_deliveries_sent ON notify_deliveries (channel_id, sent_at) WHERE status = 'sent';

-- Telegram: a one-time code shown in Settings links a chat to its user.
CREATE TABLE telegram_links (
    user_id      bigint  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    code         text    UNIQUE,
    code_expires timestamptz,
    chat_id      bigint  UNIQUE,
    linked_at    timestamptz
);

-- Small durable state of the notifier (the Telegram update offset).
CREATE TABLE notify_state (
    key    text  PRIMARY KEY,
    value  jsonb NOT NULL
);
