-- +goose Up
-- The node whose SFTP server received the upload: the received file lives
-- on its disk, so that node delivers the customer's reports into the
-- account's tree and takes the original out of it once the pipeline (on any
-- node) finished. '' for uploads recorded before nodes were recorded: any
-- node may deliver them.
ALTER TABLE uploads ADD COLUMN node TEXT NOT NULL DEFAULT '';
CREATE INDEX uploads_undelivered ON uploads (node, id) WHERE finished_at IS NOT NULL AND archived_at IS NULL;

-- +goose Down
DROP INDEX uploads_undelivered;
ALTER TABLE uploads DROP COLUMN node;
