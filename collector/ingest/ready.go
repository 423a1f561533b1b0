package ingest

import (
	"errors"
	"fmt"
	"time"
)

// StuckCommit is how long one commit may run before Ready calls the writer
// stuck (a hung disk, a lock never released).
const StuckCommit = time.Minute

// Ready reports whether the writer can take agents' changes: it is running
// and no commit has been in progress for StuckCommit or longer.
func (s *Server) Ready(now time.Time) error {
	c := s.committer
	if !c.running.Load() {
		return errors.New("the ingest writer is not running")
	}
	if b := c.busySince.Load(); b != 0 {
		if d := now.Sub(time.Unix(0, b)); d >= StuckCommit {
			return fmt.Errorf("a commit has been running for %v", d.Round(time.Second))
		}
	}
	return nil
}
