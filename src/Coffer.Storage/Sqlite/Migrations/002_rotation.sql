-- Coffer SQLite schema, version 2: durable rotation state (issue 5).
-- rotation_state is JSON text (Coffer.Core.Rotation.RotationState): the next window's start, the rotation run in
-- progress (token, step, phase before/after, attempts, next attempt) and the last failure (step and a reason that
-- never holds a password). It lives in the secret's row so that it changes in the same transaction as the labels.
ALTER TABLE secrets ADD COLUMN rotation_state TEXT;

CREATE INDEX secrets_rotating ON secrets (id) WHERE rotation_enabled = 1 OR rotation_state IS NOT NULL;
