-- The audit trail (issue 4). `id` is the storage order `coffer audit verify` walks; `seq`, `prev_hash` and
-- `hash` are the chain (see AuditRecord). The other columns are copies of event fields for filtering;
-- event_json is the CloudTrail record exactly as hashed (UTF-8 text, so sqlite3's json functions read it).
CREATE TABLE audit_event (
    id            INTEGER PRIMARY KEY,
    seq           INTEGER NOT NULL,
    prev_hash     TEXT    NOT NULL,
    hash          TEXT    NOT NULL,
    event_time_ms INTEGER NOT NULL,
    event_id      TEXT    NOT NULL,
    event_source  TEXT    NOT NULL,
    event_name    TEXT    NOT NULL,
    user_name     TEXT,
    principal_arn TEXT,
    access_key_id TEXT,
    resource      TEXT,
    outcome       TEXT    NOT NULL,
    error_code    TEXT,
    read_only     INTEGER NOT NULL,
    source_ip     TEXT,
    event_json    TEXT    NOT NULL
);
CREATE INDEX audit_event_time ON audit_event (event_time_ms);

-- Signed checkpoints of the chain (AuditCheckpoint).
CREATE TABLE audit_checkpoint (
    id        INTEGER PRIMARY KEY,
    seq       INTEGER NOT NULL,
    hash      TEXT    NOT NULL,
    time_ms   INTEGER NOT NULL,
    signature TEXT    NOT NULL
);
