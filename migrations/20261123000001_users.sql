-- People who sign in, their trading preferences, and tokens for scripts.
CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{3,64}$'),
    -- argon2id PHC string.
    password_hash text NOT NULL,
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    disabled      boolean NOT NULL DEFAULT false,
    risk_profile  text NOT NULL DEFAULT 'medium' CHECK (risk_profile IN ('low', 'medium', 'high')),
    -- Account size the signals are sized for, in quote currency (USD/USDT).
    capital       double precision NOT NULL DEFAULT 100 CHECK (capital > 0 AND capital <= 1e12),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);

-- Bearer tokens: only a SHA-256 of the secret is kept; the secret is shown once.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_sha256 text NOT NULL UNIQUE,
    -- The secret's first characters, so a user can tell tokens apart.
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Who asked for a job: users see their own (backtests), admins all.
ALTER TABLE jobs ADD COLUMN created_by bigint REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX jobs_created_by ON jobs (created_by, id DESC);
