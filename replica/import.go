package replica

// afterImport retires d's handle when s was read at schema cookie 0: the
// database's file was just imported (LiteFS's import sets the cookie to
// 0, and the primary moves it on in the next transaction). SQLite keeps
// a connection's schema while the cookie it sees does not change, so a
// connection that read one imported file at cookie 0 would keep its
// schema over the next imported file at cookie 0 too (root pages of the
// old file over the new one) if it skipped everything in between. No
// connection that saw cookie 0 goes back to a pool: reads to come open a
// new handle (new pools, new public SQL shadows). A database with tables
// never has cookie 0 otherwise (every schema change moves it).
func (r *Reader) afterImport(d *database, s *snapshot) {
	if s == nil || s.SchemaVersion != 0 || d.retired.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if d.retired.Swap(true) {
		return
	}
	if dbs := r.dbs.Load(); dbs != nil && (*dbs)[d.name] == d {
		next := make(map[string]*database, len(*dbs))
		for k, v := range *dbs {
			if k != d.name {
				next[k] = v
			}
		}
		r.dbs.Store(&next)
	}
	// Reads under way finish on d; each connection closes as it returns.
	d.db.SetMaxIdleConns(0)
	if p := d.sqlOpen.Load(); p != nil {
		p.SetMaxIdleConns(0)
	}
	r.retired = append(r.pruneRetired(), d)
	r.Logger.Debug("database read at schema cookie 0 (just imported): its connections are renewed", "db", d.name)
}

// keepRetired is how many retired handles are kept open before the oldest
// idle ones are closed: a request holds a handle for milliseconds, so
// those are long out of use. (A file left at cookie 0, whose primary
// could not move it on, retires a handle at every read.)
const keepRetired = 16

// pruneRetired closes the oldest retired handles with no connection in
// use beyond keepRetired. r.mu is held.
func (r *Reader) pruneRetired() []*database {
	if len(r.retired) < keepRetired {
		return r.retired
	}
	keep := r.retired[:0]
	for i, d := range r.retired {
		if i < len(r.retired)-keepRetired/2 && d.db.Stats().InUse == 0 {
			if err := d.close(); err != nil {
				r.Logger.Warn("close a retired database handle", "db", d.name, "err", err)
			}
			continue
		}
		keep = append(keep, d)
	}
	return keep
}
