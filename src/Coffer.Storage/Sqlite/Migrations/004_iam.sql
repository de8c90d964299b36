-- IAM: users, groups, roles and managed policies, one JSON document each (see Coffer.Core.Principals.IamEntities).
-- kind is 'user', 'group', 'role' or 'policy'; name is the lower-case entity name (a policy's ARN for policies),
-- since IAM names are unique regardless of case. Users' access keys stay in access_keys (secrets sealed).

CREATE TABLE iam_entities (
    kind     TEXT NOT NULL,
    name     TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (kind, name)
) WITHOUT ROWID;

CREATE INDEX access_keys_user ON access_keys (user_name);
