-- +goose Up
CREATE TABLE accounts (
    name           TEXT    PRIMARY KEY,
    quota_bytes    INTEGER NOT NULL DEFAULT 0,
    quota_files    INTEGER NOT NULL DEFAULT 0,
    max_file_size  INTEGER NOT NULL DEFAULT 0,
    allowed_cidrs  TEXT    NOT NULL DEFAULT '[]',
    disabled       INTEGER NOT NULL DEFAULT 0,
    require_key_and_password INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE credentials (
    id            TEXT    PRIMARY KEY,
    scope         TEXT    NOT NULL,              -- account name, or '' for global credentials
    account       TEXT    REFERENCES accounts(name) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    fingerprint   TEXT    NOT NULL DEFAULT '',
    metadata      TEXT    NOT NULL DEFAULT '{}',
    public_data   TEXT    NOT NULL DEFAULT '',
    secret_hash   TEXT    NOT NULL DEFAULT '',
    sealed        BLOB,
    key_id        TEXT    NOT NULL DEFAULT '',
    description   TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    expires_at    INTEGER,
    UNIQUE (scope, name)
);
-- One SSH key cannot belong to two accounts.
CREATE UNIQUE INDEX credentials_ssh_key ON credentials (fingerprint) WHERE type = 'ssh-public-key';
-- API tokens are looked up by their hash.
CREATE UNIQUE INDEX credentials_token_hash ON credentials (secret_hash) WHERE type = 'api-token';
CREATE INDEX credentials_account_type ON credentials (account, type);

CREATE TABLE feeds (
    account     TEXT    NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    config      TEXT    NOT NULL,                -- JSON: policy and schema
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (account, name),
    UNIQUE (account, path)
);

CREATE TABLE audit_events (
    id          TEXT    PRIMARY KEY,             -- ULID: sorts by time
    time        INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    remote      TEXT    NOT NULL DEFAULT '',
    request_id  TEXT    NOT NULL DEFAULT '',
    result      TEXT    NOT NULL DEFAULT '',
    detail      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_target ON audit_events (target, id);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE feeds;
DROP TABLE credentials;
DROP TABLE accounts;
