-- +goose Up
-- The pipeline's records. An upload is processed in attempts: the first when
-- it is received, one more each time an administrator retries it. Each
-- attempt has its own files; a task of an older attempt is dropped.
ALTER TABLE uploads ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE uploads ADD COLUMN finished_at INTEGER;   -- when this attempt reached its final state
ALTER TABLE uploads ADD COLUMN error TEXT NOT NULL DEFAULT '';  -- why it was rejected or failed, in short
ALTER TABLE uploads ADD COLUMN archived_at INTEGER;   -- the original left the customer's tree
ALTER TABLE uploads ADD COLUMN purged_at INTEGER;     -- the archive and the outputs were removed

-- A file is one object at one stage of one attempt: the upload itself, a
-- decrypted payload, a ZIP entry, a validated CSV. Rows are written by the
-- stage runner in transactions; its writes are idempotent under
-- redelivery: file ids derive from their input's id, and the key below holds
-- whatever the id.
DROP TABLE files;
CREATE TABLE files (
    id            TEXT    PRIMARY KEY,             -- deterministic: derived from its input's id
    upload_id     TEXT    NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    parent_id     TEXT    NOT NULL DEFAULT '',     -- '' for the upload itself
    stage         TEXT    NOT NULL,                -- the stage that made it: upload, pgp, zip, csv
    name          TEXT    NOT NULL,                -- file name at this point, e.g. the entry of a ZIP
    lineage       TEXT    NOT NULL,                -- the names from the upload down, separated by U+001F: unique per stage
    next          TEXT    NOT NULL DEFAULT '',     -- the stage that takes it, '' when it is final
    status        TEXT    NOT NULL CHECK (status IN ('pending', 'done', 'ready', 'rejected', 'failed')),
    error         TEXT    NOT NULL DEFAULT '',     -- why rejected or failed; the last transient error while pending
    deliveries    INTEGER NOT NULL DEFAULT 0,       -- how many times its task was taken
    rows          INTEGER NOT NULL DEFAULT 0,       -- data rows accepted, header excluded
    size          INTEGER NOT NULL DEFAULT 0,
    object        TEXT    NOT NULL,                -- the pipeline.Object as JSON (blob key, chain, result, ...)
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (upload_id, attempt, stage, lineage)
);
CREATE INDEX files_upload ON files (upload_id, attempt);
CREATE INDEX files_pending ON files (upload_id, attempt) WHERE status = 'pending';

-- +goose Down
DROP TABLE files;
CREATE TABLE files (id TEXT PRIMARY KEY); -- 00002's table, emptied; its own Down drops it
ALTER TABLE uploads DROP COLUMN purged_at;
ALTER TABLE uploads DROP COLUMN archived_at;
ALTER TABLE uploads DROP COLUMN error;
ALTER TABLE uploads DROP COLUMN finished_at;
ALTER TABLE uploads DROP COLUMN attempt;
