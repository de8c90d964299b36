-- Lambda functions (issue 6, docs/functions.md): one row per function, unique per (region, name), names
-- case-sensitive as in AWS. document is the configuration as JSON (Coffer.Core.Functions.FunctionDocument: runtime,
-- handler, role, limits, code digest, resource policy statements). environment_blob and code_blob are sealed by
-- the envelope cipher (AAD: the function ARN, and for the code its SHA-256 too); the store never sees either in
-- the clear. code_blob is the last column so that listings, which never select it, do not read its pages.

CREATE TABLE functions (
    region           TEXT NOT NULL,
    name             TEXT NOT NULL,
    arn              TEXT NOT NULL UNIQUE,
    revision_id      TEXT NOT NULL,
    document         TEXT NOT NULL,
    environment_blob BLOB,
    code_blob        BLOB NOT NULL,
    PRIMARY KEY (region, name)
);
