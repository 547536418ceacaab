package memory

import (
	"context"
	"slices"
	"strings"
	"time"

	"switchboard/storage"
)

var (
	_ storage.Assistants = (*Store)(nil)
	_ storage.Numbers    = (*Store)(nil)
	_ storage.Analyses   = (*Store)(nil)
)

// assistantRecord is an assistant and all its versions (versions[i] is
// version i+1). A deleted assistant keeps its versions: calls name them.
type assistantRecord struct {
	versions []storage.Assistant
	deleted  bool
}

func (r *assistantRecord) current() storage.Assistant {
	return cloneAssistant(r.versions[len(r.versions)-1])
}

// cloneAssistant copies a so that callers never share the stored slices.
func cloneAssistant(a storage.Assistant) storage.Assistant {
	a.AnalysisSchema = slices.Clone(a.AnalysisSchema)
	if t := a.Model.Temperature; t != nil {
		v := *t
		a.Model.Temperature = &v
	}
	return a
}

func notFoundAssistant() error { return storage.Errorf(storage.ErrNotFound, "assistant not found") }

// route is the assistant version that answers calls to number: its
// assistant's current version, else the default. s.mu is held.
func (s *Store) route(number string) storage.AssistantRef {
	n, ok := s.numbers[number]
	if !ok {
		return storage.DefaultRef
	}
	return s.assistants[n.AssistantID].current().Ref()
}

// version returns a stored version; false for the default or an unknown
// one. s.mu is held.
func (s *Store) version(ref storage.AssistantRef) (storage.Assistant, bool) {
	r, ok := s.assistants[ref.ID]
	if !ok || ref.Version < 1 || ref.Version > len(r.versions) {
		return storage.Assistant{}, false
	}
	return r.versions[ref.Version-1], true
}

// CreateAssistant stores version 1 of a new assistant.
func (s *Store) CreateAssistant(ctx context.Context, set storage.AssistantSettings) (storage.Assistant, error) {
	if err := storage.CheckAssistant(set); err != nil {
		return storage.Assistant{}, err
	}
	now := norm(time.Now())
	a := cloneAssistant(storage.Assistant{ID: storage.NewAssistantID(), Version: 1, AssistantSettings: set, CreatedAt: now, UpdatedAt: now})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assistants[a.ID] = &assistantRecord{versions: []storage.Assistant{a}}
	return cloneAssistant(a), nil
}

// GetAssistant returns the current version.
func (s *Store) GetAssistant(ctx context.Context, id string) (storage.Assistant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.assistants[id]
	if !ok || r.deleted {
		return storage.Assistant{}, notFoundAssistant()
	}
	return r.current(), nil
}

// GetAssistantVersion returns one version, of a deleted assistant too.
func (s *Store) GetAssistantVersion(ctx context.Context, id string, version int) (storage.Assistant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.version(storage.AssistantRef{ID: id, Version: version})
	if !ok {
		return storage.Assistant{}, storage.Errorf(storage.ErrNotFound, "assistant version not found")
	}
	return cloneAssistant(a), nil
}

// ListAssistants returns every current version, oldest first.
func (s *Store) ListAssistants(ctx context.Context) ([]storage.Assistant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := []storage.Assistant{}
	for _, r := range s.assistants {
		if !r.deleted {
			list = append(list, r.current())
		}
	}
	slices.SortFunc(list, func(a, b storage.Assistant) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return list, nil
}

// live returns the assistant id at version ifVersion. s.mu is held.
func (s *Store) live(id string, ifVersion int) (*assistantRecord, error) {
	r, ok := s.assistants[id]
	if !ok || r.deleted {
		return nil, notFoundAssistant()
	}
	if cur := len(r.versions); cur != ifVersion {
		return nil, storage.Errorf(storage.ErrStale, "the assistant is at version %d: read it again and retry with its ETag", cur)
	}
	return r, nil
}

// UpdateAssistant stores the next version when the current one is ifVersion.
func (s *Store) UpdateAssistant(ctx context.Context, id string, ifVersion int, set storage.AssistantSettings) (storage.Assistant, error) {
	if err := storage.CheckAssistant(set); err != nil {
		return storage.Assistant{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.live(id, ifVersion)
	if err != nil {
		return storage.Assistant{}, err
	}
	cur := r.versions[len(r.versions)-1]
	a := cloneAssistant(storage.Assistant{ID: id, Version: cur.Version + 1, AssistantSettings: set,
		CreatedAt: cur.CreatedAt, UpdatedAt: norm(time.Now())})
	r.versions = append(r.versions, a)
	return cloneAssistant(a), nil
}

// DeleteAssistant deletes the assistant unless a number routes to it.
func (s *Store) DeleteAssistant(ctx context.Context, id string, ifVersion int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.live(id, ifVersion)
	if err != nil {
		return err
	}
	n := 0
	for _, num := range s.numbers {
		if num.AssistantID == id {
			n++
		}
	}
	if n > 0 {
		return storage.Errorf(storage.ErrConflict, "%d number(s) route to this assistant: delete or move them first", n)
	}
	r.deleted = true
	return nil
}

// AddNumber routes a number to an existing assistant.
func (s *Store) AddNumber(ctx context.Context, n storage.Number) (storage.Number, error) {
	if err := n.Check(); err != nil {
		return storage.Number{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.assistants[n.AssistantID]; !ok || r.deleted {
		return storage.Number{}, storage.Errorf(storage.ErrNotFound, "assistant %s not found", n.AssistantID)
	}
	if _, ok := s.numbers[n.Number]; ok {
		return storage.Number{}, storage.Errorf(storage.ErrConflict, "number %s already routes to an assistant: delete it first", n.Number)
	}
	n.CreatedAt = norm(time.Now())
	s.numbers[n.Number] = n
	return n, nil
}

// GetNumber returns one number.
func (s *Store) GetNumber(ctx context.Context, number string) (storage.Number, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.numbers[number]
	if !ok {
		return storage.Number{}, storage.Errorf(storage.ErrNotFound, "number not found")
	}
	return n, nil
}

// ListNumbers returns every number in number order.
func (s *Store) ListNumbers(ctx context.Context) ([]storage.Number, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := []storage.Number{}
	for _, n := range s.numbers {
		list = append(list, n)
	}
	slices.SortFunc(list, func(a, b storage.Number) int { return strings.Compare(a.Number, b.Number) })
	return list, nil
}

// DeleteNumber removes a number.
func (s *Store) DeleteNumber(ctx context.Context, number string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.numbers[number]; !ok {
		return storage.Errorf(storage.ErrNotFound, "number not found")
	}
	delete(s.numbers, number)
	return nil
}

// StartAnalysisRun stores the run and queues every ended call of the
// assistant created at or after since, in one step.
func (s *Store) StartAnalysisRun(ctx context.Context, assistantID string, since time.Time) (storage.AnalysisRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.assistants[assistantID]
	if !ok || r.deleted {
		return storage.AnalysisRun{}, notFoundAssistant()
	}
	cur := r.versions[len(r.versions)-1]
	if !storage.HasSchema(cur.AnalysisSchema) {
		return storage.AnalysisRun{}, storage.Errorf(storage.ErrConflict, "the assistant has no analysis_schema to analyze calls with")
	}
	for _, run := range s.runs {
		if run.AssistantID == assistantID && s.pending(run.ID) > 0 {
			return storage.AnalysisRun{}, storage.Errorf(storage.ErrConflict, "analysis run %d of this assistant is still running", run.ID)
		}
	}
	s.nextRunID++
	run := &storage.AnalysisRun{ID: s.nextRunID, AssistantID: assistantID, Version: cur.Version, CreatedAt: norm(time.Now())}
	if !since.IsZero() {
		t := norm(since)
		run.Since = &t
	}
	for _, c := range s.calls {
		if c.call.Assistant.ID != assistantID || c.call.EndedAt == nil || !since.IsZero() && c.call.CreatedAt.Before(since) {
			continue
		}
		s.enqueueOnce(storage.WorkAnalyzeCall, c.call.SID, "", run.ID).w.RunID = run.ID
		run.Total++
	}
	s.runs[run.ID] = run
	return s.runCopy(run), nil
}

// pending counts the run's queued work. s.mu is held.
func (s *Store) pending(run int64) int {
	n := 0
	for _, it := range s.work {
		if it.w.RunID == run {
			n++
		}
	}
	return n
}

// runCopy is the run with its progress. s.mu is held.
func (s *Store) runCopy(run *storage.AnalysisRun) storage.AnalysisRun {
	r := *run
	r.Since = normPtr(r.Since)
	r.Pending = s.pending(r.ID)
	r.Status = storage.RunCompleted
	if r.Pending > 0 {
		r.Status = storage.RunRunning
	}
	return r
}

// GetAnalysisRun returns a run and its progress.
func (s *Store) GetAnalysisRun(ctx context.Context, id int64) (storage.AnalysisRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	run, ok := s.runs[id]
	if !ok {
		return storage.AnalysisRun{}, storage.Errorf(storage.ErrNotFound, "analysis run not found")
	}
	return s.runCopy(run), nil
}

// CompleteAnalysis stores the analysis and finishes the work, unless the
// work joined a run since it was claimed: then it is handed back. One step
// under s.mu, as one transaction.
func (s *Store) CompleteAnalysis(ctx context.Context, w storage.Work, a storage.Analysis) error {
	if !storage.IsJSONObject(a.Fields) {
		return storage.Errorf(storage.ErrInvalid, "analysis fields must be a JSON object")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.held(w)
	if err != nil {
		return err
	}
	it := s.work[i]
	if it.w.Kind != storage.WorkAnalyzeCall {
		return storage.Errorf(storage.ErrInvalid, "work is not a call to analyze")
	}
	if it.w.RunID != w.RunID {
		it.w.Attempts--
		it.w.Lease, it.w.LeaseUntil, it.due = "", time.Time{}, time.Time{}
		return nil
	}
	c, ok := s.calls[it.w.CallSID]
	if !ok {
		return notFoundCall()
	}
	c.call.Analysis = &storage.Analysis{Fields: slices.Clone(a.Fields), AssistantVersion: a.AssistantVersion, CreatedAt: orNow(a.CreatedAt)}
	s.work = slices.Delete(s.work, i, i+1)
	if run, ok := s.runs[w.RunID]; ok {
		run.Done++
	}
	if w.RunID == 0 {
		s.recordEvent(storage.EventCallSummarized, it.w.CallSID, "", time.Time{})
	}
	return nil
}
