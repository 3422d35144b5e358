package idtags

import (
	"context"
	"sync"
	"time"
)

// Config configures the policy service.
type Config struct {
	// MaxTags is the most id tags a tenant may list. Default 100,000.
	MaxTags int
	// ModeTTL is how long a tenant's mode is kept in memory. A tenant in
	// accept_all mode (the default) is then answered without a query; a
	// change made on this process applies at once, one made on another
	// replica within ModeTTL. Tags of a list are always read fresh.
	// Default 5s.
	ModeTTL time.Duration
}

// WithDefaults returns the config with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.MaxTags <= 0 {
		c.MaxTags = 100_000
	}
	if c.ModeTTL <= 0 {
		c.ModeTTL = 5 * time.Second
	}
	return c
}

// maxCached bounds the mode cache: past it, the cache starts afresh.
const maxCached = 10_000

// Service answers id-tag checks and edits the policy.
type Service struct {
	store *Store
	cfg   Config
	now   func() time.Time

	mu    sync.Mutex
	modes map[int64]cachedMode
}

type cachedMode struct {
	mode Mode
	at   time.Time
}

// NewService returns a policy service on store.
func NewService(store *Store, cfg Config) *Service {
	return &Service{store: store, cfg: cfg.WithDefaults(), now: time.Now, modes: map[int64]cachedMode{}}
}

// Store returns the service's store.
func (s *Service) Store() *Store { return s.store }

// Check decides about an id tag of a tenant's charger. A tag longer than
// MaxTagLength cannot be listed: in list mode it is Unknown.
func (s *Service) Check(ctx context.Context, tenantID int64, tag string) (Decision, error) {
	now := s.now()
	s.mu.Lock()
	c, ok := s.modes[tenantID]
	s.mu.Unlock()
	if ok && c.mode == AcceptAll && now.Sub(c.at) < s.cfg.ModeTTL {
		return Decide(AcceptAll, nil, now), nil
	}
	mode, listed, err := s.store.Lookup(ctx, tenantID, tag)
	if err != nil {
		return Decision{}, err
	}
	s.remember(tenantID, mode, now)
	return Decide(mode, listed, now), nil
}

func (s *Service) remember(tenantID int64, mode Mode, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.modes) >= maxCached {
		clear(s.modes)
	}
	s.modes[tenantID] = cachedMode{mode: mode, at: now}
}

// Policy returns a tenant's mode.
func (s *Service) Policy(ctx context.Context, tenantID int64) (Mode, error) {
	return s.store.Policy(ctx, tenantID)
}

// SetPolicy sets a tenant's mode; this process applies it at once.
func (s *Service) SetPolicy(ctx context.Context, tenantID int64, mode Mode) error {
	if err := s.store.SetPolicy(ctx, tenantID, mode); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.modes, tenantID)
	s.mu.Unlock()
	return nil
}

// Put lists a tag (or replaces its entry) under the tenant's cap.
func (s *Service) Put(ctx context.Context, tenantID int64, t Tag) (Tag, bool, error) {
	return s.store.Put(ctx, tenantID, t, s.cfg.MaxTags)
}
