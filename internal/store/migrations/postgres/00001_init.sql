-- +goose Up
-- PostgreSQL twin of migrations/sqlite/00001_init.sql: the same tables,
-- columns, constraints and indexes. Times are TIMESTAMPTZ; balances are
-- BIGINT (a ledger entry's delta stays INTEGER, so SUM(delta) is a BIGINT).
CREATE TABLE workspaces (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    time_zone          TEXT NOT NULL DEFAULT 'UTC',
    balance            BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
    monthly_sms_limit  INTEGER NOT NULL DEFAULT 200,
    webhook_secret     TEXT NOT NULL,
    webhook_token      TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE members (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    FOREIGN KEY (workspace_id, user_id) REFERENCES members (workspace_id, user_id) ON DELETE CASCADE
);

CREATE TABLE sites (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    time_zone    TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX sites_workspace ON sites (workspace_id);

CREATE TABLE tracking_numbers (
    id                   TEXT PRIMARY KEY,
    workspace_id         TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    site_id              TEXT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    number               TEXT NOT NULL UNIQUE,
    provider             TEXT NOT NULL,
    sms_provider         TEXT NOT NULL,
    forward_to           TEXT,
    ring_timeout_seconds INTEGER NOT NULL DEFAULT 20,
    label                TEXT NOT NULL DEFAULT '',
    created_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX tracking_numbers_site ON tracking_numbers (site_id);

CREATE TABLE autoresponders (
    site_id    TEXT PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    enabled    BOOLEAN NOT NULL DEFAULT FALSE,
    message    TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMPTZ,
    updated_by TEXT
);

CREATE TABLE calls (
    id                 TEXT PRIMARY KEY,
    workspace_id       TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    site_id            TEXT REFERENCES sites (id) ON DELETE SET NULL,
    tracking_number_id TEXT REFERENCES tracking_numbers (id) ON DELETE SET NULL,
    tracking_number    TEXT NOT NULL,
    provider           TEXT NOT NULL,
    provider_call_id   TEXT NOT NULL,
    caller             TEXT,
    caller_raw         TEXT NOT NULL DEFAULT '',
    outcome            TEXT NOT NULL CHECK (outcome IN ('in_progress', 'answered', 'missed')),
    outcome_detail     TEXT,
    started_at         TIMESTAMPTZ NOT NULL,
    ended_at           TIMESTAMPTZ,
    duration_seconds   INTEGER,
    created_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, provider, provider_call_id)
);
CREATE INDEX calls_workspace_started ON calls (workspace_id, started_at DESC);

CREATE TABLE messages (
    id                  TEXT PRIMARY KEY,
    workspace_id        TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    site_id             TEXT REFERENCES sites (id) ON DELETE SET NULL,
    call_id             TEXT REFERENCES calls (id) ON DELETE SET NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('autoreply', 'standard')),
    to_number           TEXT NOT NULL,
    from_number         TEXT NOT NULL,
    body                TEXT NOT NULL,
    encoding            TEXT NOT NULL,
    segments            INTEGER NOT NULL,
    credits             INTEGER NOT NULL,
    provider            TEXT NOT NULL,
    provider_message_id TEXT,
    status              TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    maybe_sent          BOOLEAN NOT NULL DEFAULT FALSE,
    error               TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_workspace_created ON messages (workspace_id, created_at DESC);
CREATE INDEX messages_workspace_kind_created ON messages (workspace_id, kind, created_at);
CREATE UNIQUE INDEX messages_provider_id ON messages (provider, provider_message_id);

CREATE TABLE autoreplies (
    call_id      TEXT PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    decision     TEXT NOT NULL CHECK (decision IN ('sent', 'skipped')),
    reason       TEXT,
    message_id   TEXT REFERENCES messages (id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE credit_ledger (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    delta           INTEGER NOT NULL,
    balance_after   BIGINT NOT NULL CHECK (balance_after >= 0),
    reason          TEXT NOT NULL,
    reference       TEXT NOT NULL DEFAULT '',
    call_id         TEXT,
    message_id      TEXT,
    idempotency_key TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, idempotency_key)
);
CREATE INDEX credit_ledger_workspace_created ON credit_ledger (workspace_id, created_at DESC);

CREATE TABLE opt_outs (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    phone        TEXT NOT NULL,
    keyword      TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, phone)
);

CREATE TABLE provider_settings (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    config       TEXT NOT NULL,
    secret       TEXT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, provider)
);

-- +goose Down
DROP TABLE provider_settings;
DROP TABLE opt_outs;
DROP TABLE credit_ledger;
DROP TABLE autoreplies;
DROP TABLE messages;
DROP TABLE calls;
DROP TABLE autoresponders;
DROP TABLE tracking_numbers;
DROP TABLE sites;
DROP TABLE api_keys;
DROP TABLE members;
DROP TABLE users;
DROP TABLE workspaces;
