package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"switchboard/storage"
)

var (
	_ storage.Assistants = (*Store)(nil)
	_ storage.Numbers    = (*Store)(nil)
)

const assistantCols = `a.id, v.version, v.settings, a.created_at, v.created_at`

func scanAssistant(row pgx.Row) (storage.Assistant, error) {
	var a storage.Assistant
	var settings []byte
	if err := row.Scan(&a.ID, &a.Version, &settings, &a.CreatedAt, &a.UpdatedAt); err != nil {
		return a, err
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	if err := json.Unmarshal(settings, &a.AssistantSettings); err != nil {
		return a, err
	}
	if !storage.HasSchema(a.AnalysisSchema) {
		a.AnalysisSchema = nil // stored as null
	}
	return a, nil
}

var errAssistantNotFound = storage.Errorf(storage.ErrNotFound, "assistant not found")

func errStale(version int) error {
	return storage.Errorf(storage.ErrStale, "the assistant is at version %d: read it again and retry with its ETag", version)
}

// CreateAssistant stores the assistant and its version 1 in one round trip.
func (s *Store) CreateAssistant(ctx context.Context, set storage.AssistantSettings) (storage.Assistant, error) {
	if err := storage.CheckAssistant(set); err != nil {
		return storage.Assistant{}, err
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return storage.Assistant{}, storage.Wrap(storage.ErrInvalid, err, "assistant settings do not encode")
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	now := norm(time.Now())
	a, err := scanAssistant(s.pool.QueryRow(ctx, `
		WITH a AS (
			INSERT INTO assistants (id, version, created_at, updated_at) VALUES ($1, 1, $3, $3)
			RETURNING id, created_at
		), v AS (
			INSERT INTO assistant_versions (assistant_id, version, settings, created_at)
			SELECT id, 1, $2, $3 FROM a
			RETURNING version, settings, created_at
		)
		SELECT `+assistantCols+` FROM a, v`, storage.NewAssistantID(), string(doc), now))
	if err != nil {
		return storage.Assistant{}, translate(err, "create assistant")
	}
	return a, nil
}

// GetAssistant reads the current version.
func (s *Store) GetAssistant(ctx context.Context, id string) (storage.Assistant, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	a, err := scanAssistant(s.pool.QueryRow(ctx, `SELECT `+assistantCols+` FROM assistants a
		JOIN assistant_versions v ON v.assistant_id = a.id AND v.version = a.version WHERE a.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Assistant{}, errAssistantNotFound
	}
	if err != nil {
		return storage.Assistant{}, translate(err, "get assistant")
	}
	return a, nil
}

// GetAssistantVersion reads one version, whether or not the assistant
// still exists: its creation time is its version 1's.
func (s *Store) GetAssistantVersion(ctx context.Context, id string, version int) (storage.Assistant, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	a, err := scanAssistant(s.pool.QueryRow(ctx, `SELECT v.assistant_id, v.version, v.settings, first.created_at, v.created_at
		FROM assistant_versions v JOIN assistant_versions first ON first.assistant_id = v.assistant_id AND first.version = 1
		WHERE v.assistant_id = $1 AND v.version = $2`, id, version))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Assistant{}, storage.Errorf(storage.ErrNotFound, "assistant version not found")
	}
	if err != nil {
		return storage.Assistant{}, translate(err, "get assistant version")
	}
	return a, nil
}

// ListAssistants reads every current version, oldest assistant first.
func (s *Store) ListAssistants(ctx context.Context) ([]storage.Assistant, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, _ := s.pool.Query(ctx, `SELECT `+assistantCols+` FROM assistants a
		JOIN assistant_versions v ON v.assistant_id = a.id AND v.version = a.version
		ORDER BY a.created_at, a.id`)
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Assistant, error) { return scanAssistant(r) })
	if err != nil {
		return nil, translate(err, "list assistants")
	}
	return list, nil
}

// UpdateAssistant moves the assistant to its next version and stores it,
// in one transaction that holds the assistant's row: concurrent updates
// from the same version cannot both succeed.
func (s *Store) UpdateAssistant(ctx context.Context, id string, ifVersion int, set storage.AssistantSettings) (storage.Assistant, error) {
	if err := storage.CheckAssistant(set); err != nil {
		return storage.Assistant{}, err
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return storage.Assistant{}, storage.Wrap(storage.ErrInvalid, err, "assistant settings do not encode")
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var a storage.Assistant
	err = s.inTx(ctx, "update assistant", func(tx pgx.Tx) error {
		var cur int
		err := tx.QueryRow(ctx, `SELECT version FROM assistants WHERE id = $1 FOR UPDATE`, id).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return errAssistantNotFound
		}
		if err != nil {
			return err
		}
		if cur != ifVersion {
			return errStale(cur)
		}
		now := norm(time.Now())
		a, err = scanAssistant(tx.QueryRow(ctx, `
			WITH a AS (
				UPDATE assistants SET version = version + 1, updated_at = $3 WHERE id = $1
				RETURNING id, version, created_at
			), v AS (
				INSERT INTO assistant_versions (assistant_id, version, settings, created_at)
				SELECT id, version, $2, $3 FROM a
				RETURNING version, settings, created_at
			)
			SELECT `+assistantCols+` FROM a, v`, id, string(doc), now))
		return err
	})
	if err != nil {
		return storage.Assistant{}, err
	}
	return a, nil
}

// DeleteAssistant removes the assistant's row; its versions stay for the
// calls that name them. The numbers' foreign key refuses the delete while
// a number routes to the assistant, whatever commits meanwhile.
func (s *Store) DeleteAssistant(ctx context.Context, id string, ifVersion int) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.inTx(ctx, "delete assistant", func(tx pgx.Tx) error {
		var cur int
		err := tx.QueryRow(ctx, `SELECT version FROM assistants WHERE id = $1 FOR UPDATE`, id).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return errAssistantNotFound
		}
		if err != nil {
			return err
		}
		if cur != ifVersion {
			return errStale(cur)
		}
		var numbers int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM numbers WHERE assistant_id = $1`, id).Scan(&numbers); err != nil {
			return err
		}
		if numbers > 0 {
			return inUse(numbers)
		}
		_, err = tx.Exec(ctx, `DELETE FROM assistants WHERE id = $1`, id)
		if isForeignKey(err) {
			return inUse(1)
		}
		return err
	})
}

func inUse(numbers int) error {
	return storage.Errorf(storage.ErrConflict, "%d number(s) route to this assistant: delete or move them first", numbers)
}

func isForeignKey(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

const numberCols = `number, assistant_id, created_at`

func scanNumber(row pgx.Row) (storage.Number, error) {
	var n storage.Number
	err := row.Scan(&n.Number, &n.AssistantID, &n.CreatedAt)
	n.CreatedAt = n.CreatedAt.UTC()
	return n, err
}

// AddNumber inserts the number; the foreign key says whether the assistant
// exists, the primary key whether the number is taken.
func (s *Store) AddNumber(ctx context.Context, n storage.Number) (storage.Number, error) {
	if err := n.Check(); err != nil {
		return storage.Number{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	got, err := scanNumber(s.pool.QueryRow(ctx, `INSERT INTO numbers (number, assistant_id, created_at)
		VALUES ($1, $2, $3) RETURNING `+numberCols, n.Number, n.AssistantID, norm(time.Now())))
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return got, nil
	case errors.As(err, &pgErr) && pgErr.Code == "23503":
		return storage.Number{}, storage.Errorf(storage.ErrNotFound, "assistant %s not found", n.AssistantID)
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return storage.Number{}, storage.Errorf(storage.ErrConflict, "number %s already routes to an assistant: delete it first", n.Number)
	}
	return storage.Number{}, translate(err, "add number")
}

// GetNumber reads one number.
func (s *Store) GetNumber(ctx context.Context, number string) (storage.Number, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := scanNumber(s.pool.QueryRow(ctx, `SELECT `+numberCols+` FROM numbers WHERE number = $1`, number))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Number{}, errNumberNotFound
	}
	if err != nil {
		return storage.Number{}, translate(err, "get number")
	}
	return n, nil
}

// ListNumbers reads every number in number order.
func (s *Store) ListNumbers(ctx context.Context) ([]storage.Number, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, _ := s.pool.Query(ctx, `SELECT `+numberCols+` FROM numbers ORDER BY number`)
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Number, error) { return scanNumber(r) })
	if err != nil {
		return nil, translate(err, "list numbers")
	}
	return list, nil
}

// DeleteNumber deletes one number.
func (s *Store) DeleteNumber(ctx context.Context, number string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM numbers WHERE number = $1`, number)
	if err != nil {
		return translate(err, "delete number")
	}
	if tag.RowsAffected() == 0 {
		return errNumberNotFound
	}
	return nil
}

var errNumberNotFound = storage.Errorf(storage.ErrNotFound, "number not found")
