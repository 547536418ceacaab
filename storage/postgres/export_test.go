package postgres

import "context"

// ListQuery exposes the page query builder to the plan tests.
var ListQuery = listQuery

// QueryRowForTest runs a query on the store's pool, for tests that check
// what the connection itself is like.
func (s *Store) QueryRowForTest(ctx context.Context, sql string, dest ...any) error {
	return s.pool.QueryRow(ctx, sql).Scan(dest...)
}

// PendingWrites is how many webhook writes wait for a batch slot.
func (s *Store) PendingWrites() int {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.pending)
}

// WriteBatches reports how many batches the grouped webhook writes went
// in and how many writes they held (writes ÷ batches is the mean batch).
func (s *Store) WriteBatches() (batches, writes uint64) {
	if s.group == nil {
		return 0, 0
	}
	return s.group.batches.Load(), s.group.writes.Load()
}
