package credentials

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"

	"github.com/sluicehq/sluice/store"
)

const auditColumns = `id, time, actor, action, target, remote, request_id, result, detail`

// scanAudit scans one row of auditColumns.
func scanAudit(row scanner) (AuditEvent, error) {
	var e AuditEvent
	err := row.Scan(&e.ID, timeCol{&e.Time}, &e.Actor, &e.Action, &e.Target, &e.Remote, &e.RequestID, &e.Result, &e.Detail)
	if err != nil {
		return AuditEvent{}, err
	}
	return e, nil
}

// AppendAudit stores e. A zero e.Time is taken as now; an empty e.ID gets a
// new ULID of e.Time. Audit events sort by ID, so callers that set it must
// use a ULID. An ID already stored is an ErrConflict.
func (s *Store) AppendAudit(ctx context.Context, e AuditEvent) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.ID == "" {
		id, err := ulid.New(ulid.Timestamp(e.Time), ulid.DefaultEntropy())
		if err != nil {
			return fmt.Errorf("append audit event %q: new id: %w", e.Action, err)
		}
		e.ID = id.String()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit_events (`+auditColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		e.ID, micros(e.Time), e.Actor, e.Action, e.Target, e.Remote, e.RequestID, e.Result, e.Detail)
	if store.IsUniqueViolation(err) {
		return conflict("audit event %q already exists", e.ID)
	}
	if err != nil {
		return fmt.Errorf("append audit event %q: %w", e.Action, err)
	}
	return nil
}

// Audit returns one page of the audit events that match f, newest (highest
// ID) first, and the cursor of the next page ("" after the last page). Actor
// and Action match exactly, Target as a prefix (case-sensitively).
func (s *Store) Audit(ctx context.Context, f AuditFilter, p Page) ([]AuditEvent, string, error) {
	after, err := decodeCursor(p.After)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(p)
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Actor != "" {
		where = append(where, "actor = "+arg(f.Actor))
	}
	if f.Action != "" {
		where = append(where, "action = "+arg(f.Action))
	}
	if f.Target != "" {
		// Not LIKE: SQLite's LIKE ignores case, and % and _ would need
		// escaping.
		where = append(where, "substr(target, 1, "+arg(utf8.RuneCountInString(f.Target))+") = "+arg(f.Target))
	}
	if after != "" {
		where = append(where, "id < "+arg(after))
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY id DESC LIMIT ` + arg(limit+1)
	items, err := queryAll(ctx, s.db, scanAudit, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list audit events: %w", err)
	}
	items, next := pageOf(items, limit, func(e AuditEvent) string { return e.ID })
	return items, next, nil
}
