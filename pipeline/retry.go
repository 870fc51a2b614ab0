package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/credentials"
)

// Retry runs a rejected or failed upload through the pipeline again as a new
// attempt — after an administrator fixed a ZIP password or a feed, say. The
// new attempt has file and event ids of its own; its task is published by
// the publisher (RunSweeper), no second received event. Retrying an upload
// in any other state, or one whose archive was purged, is an error wrapping
// credentials.ErrConflict. It is safe for concurrent use: of two concurrent
// retries, one wins and the other is a conflict.
func (in *Intake) Retry(ctx context.Context, id string) (Upload, error) {
	u, err := in.Upload(ctx, id)
	if err != nil {
		return Upload{}, err
	}
	switch {
	case u.PurgedAt != nil:
		return Upload{}, fmt.Errorf("upload %s cannot be retried: its archive was removed after the archive period (retention.archive): %w",
			id, credentials.ErrConflict)
	case u.Status != StatusRejected && u.Status != StatusFailed:
		return Upload{}, fmt.Errorf("upload %s is %s: only rejected or failed uploads can be retried: %w", id, u.Status, credentials.ErrConflict)
	}
	now := in.now().UTC().Truncate(time.Microsecond)
	n, err := in.exec(ctx, false, `UPDATE uploads SET attempt = attempt + 1, status = 'received', error = '', finished_at = NULL, archived_at = NULL,
		published_at = NULL, publish_attempts = 0, last_error = '', updated_at = $1
		WHERE id = $2 AND attempt = $3 AND status IN ('rejected', 'failed') AND purged_at IS NULL`,
		now.UnixMicro(), id, u.Attempt)
	if err != nil {
		return Upload{}, fmt.Errorf("retry upload %s: %w", id, err)
	}
	if n == 0 {
		return Upload{}, fmt.Errorf("upload %s changed meanwhile (retried by someone else?): %w", id, credentials.ErrConflict)
	}
	in.wakePublisher()
	in.logger.Info("upload retried", "upload", id, "account", u.Account, "attempt", u.Attempt+1)
	u, err = in.Upload(ctx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Upload{}, fmt.Errorf("upload %q: %w", id, credentials.ErrNotFound)
	}
	return u, err
}
