package primary

import (
	"log/slog"
	"sync"
	"time"

	"github.com/tablecast/tablecast"
)

// DefaultMinFree is the default free-space floor: 64 MiB. One write
// request is at most max-body (1 MiB) of JSON, which becomes at most a few
// MiB of pages written twice (the WAL, through FUSE, and LiteFS's LTX
// copy, kept for its 10 min retention), plus the database growing at
// checkpoint; 64 MiB covers the largest write several times over, with
// other databases writing at the same moment and other files on the disk
// growing a little between two checks.
const DefaultMinFree = 64 << 20

// spaceCacheFor is how long a free-space figure well above the floor is
// trusted; near the floor every write checks again.
const spaceCacheFor = 100 * time.Millisecond

// SpaceFloor refuses writes while a file system under the databases has
// less than MinFree bytes free: LiteFS stops the whole process (exit 99)
// when it cannot write a transaction's LTX file, so writes must stop
// before that can happen. Writes that remove data (deletes, unpublish) go
// on down to Reserve: they too need WAL and LTX space, but only a few
// pages, and they are how an owner hides a table or trims a database when
// the disk is tight. Reads are never affected.
type SpaceFloor struct {
	Dirs    []string // folders whose file systems must keep the floor free
	MinFree uint64   // writes that add data need this much free
	Reserve uint64   // deletes and unpublish need this much; MinFree/2 if 0
	Logger  *slog.Logger

	// Statfs returns the bytes free to unprivileged users in a folder's
	// file system; FreeBytes when nil (tests replace it).
	Statfs func(dir string) (uint64, error)

	mu      sync.Mutex
	checked time.Time // when free was read
	free    uint64    // least free bytes over Dirs at checked
	dir     string    // the folder with the least
	low     bool      // below MinFree at the last check (for logging changes)
}

// Check returns an EFULL error when a write may not go ahead: below
// MinFree, or below Reserve for a write that removes data (shrinks).
func (s *SpaceFloor) Check(shrinks bool) error {
	if shrinks {
		return s.check(s.reserve(), "Deletes and unpublish need")
	}
	return s.check(s.MinFree, "Writes need")
}

// CheckControl is Check for a change of _tablecast.db (tokens, sessions,
// audit): a few pages, allowed down to the reserve as deletes are, since
// revoking a token or signing out must work when the disk is tight.
func (s *SpaceFloor) CheckControl() error {
	return s.check(s.reserve(), "Token, session and audit changes need")
}

func (s *SpaceFloor) check(need uint64, what string) error {
	free, err := s.least()
	if err != nil {
		// Not knowing is not a reason to refuse: LiteFS would fail the
		// same way a statfs does, and the write then reports it.
		s.logger().Warn("cannot read free disk space", "err", err)
		return nil
	}
	if free >= need {
		return nil
	}
	return tablecast.Errorf(tablecast.EFULL,
		"Insufficient storage on the primary: nothing was written. %s %s free, %s is left. Reads go on; writes resume by themselves once space is freed",
		what, tablecast.FormatBytes(need), tablecast.FormatBytes(free))
}

// Short reports whether free space is below MinFree now (read afresh):
// what an I/O error during a write most likely means then.
func (s *SpaceFloor) Short() bool {
	s.mu.Lock()
	s.checked = time.Time{}
	s.mu.Unlock()
	free, err := s.least()
	return err == nil && free < s.MinFree
}

func (s *SpaceFloor) reserve() uint64 {
	if s.Reserve > 0 {
		return s.Reserve
	}
	return s.MinFree / 2
}

// least returns the least free bytes over Dirs, read again unless the last
// figure is fresh and far (twice MinFree) above the floor.
func (s *SpaceFloor) least() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.checked.IsZero() && time.Since(s.checked) < spaceCacheFor && s.free >= 2*s.MinFree {
		return s.free, nil
	}
	statfs := s.Statfs
	if statfs == nil {
		statfs = tablecast.FreeBytes
	}
	least, at := uint64(0), ""
	for i, dir := range s.Dirs {
		free, err := statfs(dir)
		if err != nil {
			return 0, err
		}
		if i == 0 || free < least {
			least, at = free, dir
		}
	}
	s.checked, s.free, s.dir = time.Now(), least, at
	if low := least < s.MinFree; low != s.low {
		s.low = low
		if low {
			s.logger().Warn("free disk space below tablecast.min-free-bytes: writes refused (507) until space is freed; deletes and unpublish allowed down to the reserve",
				"dir", at, "free", tablecast.FormatBytes(least), "min_free", tablecast.FormatBytes(s.MinFree), "reserve", tablecast.FormatBytes(s.reserve()))
		} else {
			s.logger().Info("free disk space back above tablecast.min-free-bytes: writes accepted again", "dir", at, "free", tablecast.FormatBytes(least))
		}
	}
	return least, nil
}

func (s *SpaceFloor) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}
