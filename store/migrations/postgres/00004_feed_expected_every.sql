-- +goose Up
-- How often a feed is expected to receive a file, in microseconds (the unit
-- of the timestamps, so that a query can compare it with uploads.received_at);
-- NULL: no expectation. Operators are alerted when a feed stays silent for
-- longer.
ALTER TABLE feeds ADD COLUMN expected_every BIGINT;

-- +goose Down
ALTER TABLE feeds DROP COLUMN expected_every;
