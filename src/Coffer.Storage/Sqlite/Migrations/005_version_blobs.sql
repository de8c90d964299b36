-- Coffer SQLite schema, version 4: values move out of the version rows into their own table.
--
-- Why: `versions` is a WITHOUT ROWID table, so its rows live in an index b-tree whose cells keep only ~1 KB
-- locally. With a 4 KiB value in the row, every key comparison during a seek read the value's overflow pages,
-- and every label move (an UPDATE of stages) rewrote the whole row, value included. Version rows are small
-- now; a value is written once, read by a rowid lookup, and removed with its version.

CREATE TABLE version_blobs (
    secret_id  INTEGER NOT NULL,
    version_id TEXT    NOT NULL,
    blob       BLOB    NOT NULL,
    PRIMARY KEY (secret_id, version_id),
    FOREIGN KEY (secret_id, version_id) REFERENCES versions (secret_id, version_id) ON DELETE CASCADE
);

INSERT INTO version_blobs (secret_id, version_id, blob)
    SELECT secret_id, version_id, blob FROM versions WHERE blob IS NOT NULL;

ALTER TABLE versions DROP COLUMN blob;
