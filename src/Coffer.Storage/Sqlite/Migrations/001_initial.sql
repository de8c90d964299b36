-- Coffer SQLite schema, version 1.
-- Timestamps are integer unix milliseconds (UTC). Tags, stages and rotation rules are JSON text.

CREATE TABLE secrets (
    -- AUTOINCREMENT: an id is never reused after a purge, so a stale id can never reach another secret's rows.
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    region              TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    arn                 TEXT    NOT NULL UNIQUE,
    description         TEXT,
    kms_key_id          TEXT,
    type                TEXT,
    tags                TEXT,
    resource_policy     TEXT,
    created_ms          INTEGER NOT NULL,
    last_changed_ms     INTEGER NOT NULL,
    last_accessed_ms    INTEGER,
    deleted_ms          INTEGER,
    deletion_ms         INTEGER,
    rotation_enabled    INTEGER,
    rotation_lambda_arn TEXT,
    rotation_rules      TEXT,
    last_rotated_ms     INTEGER,
    next_rotation_ms    INTEGER,
    owning_service      TEXT,
    primary_region      TEXT    NOT NULL,
    UNIQUE (region, name)
);

CREATE INDEX secrets_deletion ON secrets (deletion_ms) WHERE deletion_ms IS NOT NULL;

CREATE TABLE versions (
    secret_id        INTEGER NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
    version_id       TEXT    NOT NULL,
    -- Global creation order; versions of a secret are returned ordered by it.
    seq              INTEGER NOT NULL,
    stages           TEXT    NOT NULL,
    created_ms       INTEGER NOT NULL,
    last_accessed_ms INTEGER,
    has_value        INTEGER NOT NULL,
    key_id           TEXT,
    blob             BLOB,
    PRIMARY KEY (secret_id, version_id)
) WITHOUT ROWID;

CREATE INDEX versions_seq ON versions (secret_id, seq);

CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE access_keys (
    access_key_id TEXT    NOT NULL PRIMARY KEY,
    secret_blob   BLOB    NOT NULL,
    user_name     TEXT    NOT NULL,
    principal_arn TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    created_ms    INTEGER NOT NULL
) WITHOUT ROWID;
