package sources

import "sync"

// listeners is a list of functions told a source's id (0 for every source)
// when what is known of it changes. Registration and telling may race; a
// function registered while others are told may miss that one change.
type listeners struct {
	mu    sync.Mutex
	funcs []func(sourceID int64)
}

func (l *listeners) add(f func(sourceID int64)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.funcs = append(l.funcs, f)
}

func (l *listeners) tell(sourceID int64) {
	l.mu.Lock()
	funcs := l.funcs
	l.mu.Unlock()
	for _, f := range funcs {
		f(sourceID)
	}
}
