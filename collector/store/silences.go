package store

// Silence is a silence or an occurrence of a maintenance window: while
// it is in force, drift it matches is recorded but not sent to notifiers.
// It is kept after it ends, for the audit trail (who created it, who
// expired it) and until the summary of what it held back is in the event
// log (Summarized).
type Silence struct {
	ID string `json:"id"`
	// Hosts are doublestar globs on the host id (any may match); Labels
	// must all equal the host's labels; Kind (a plumbv1.FactKind, 0 for
	// any) and Key (a doublestar glob on the fact key's display form, ""
	// for any) narrow it to some facts.
	Hosts  []string          `json:"hosts,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	Kind   int32             `json:"kind,omitempty"`
	Key    string            `json:"key,omitempty"`

	StartsAt  int64  `json:"starts_at_unix_nano"`
	EndsAt    int64  `json:"ends_at_unix_nano"`
	Reason    string `json:"reason"`
	CreatedBy string `json:"created_by"`
	CreatedAt int64  `json:"created_at_unix_nano"`

	// Set by an early expiry.
	ExpiredBy string `json:"expired_by,omitempty"`
	ExpiredAt int64  `json:"expired_at_unix_nano,omitempty"`

	// Summarized is set in the transaction that appends the summary event.
	Summarized bool `json:"summarized,omitempty"`
	// Window names the maintenance window this is an occurrence of.
	Window string `json:"window,omitempty"`
}

// End is when the silence stops holding drift back: its planned end, or
// its expiry if that came first.
func (s *Silence) End() int64 {
	if s.ExpiredAt != 0 && s.ExpiredAt < s.EndsAt {
		return s.ExpiredAt
	}
	return s.EndsAt
}

// ActiveAt reports whether the silence holds back drift at t (unix nano):
// from StartsAt, up to but not including End.
func (s *Silence) ActiveAt(t int64) bool { return s.StartsAt <= t && t < s.End() }

func (t *boltTx) Silence(id string) (*Silence, error) {
	v := &Silence{}
	if err := t.getRecord(bucketSilences, id, v); err != nil {
		return nil, err
	}
	return v, nil
}

func (t *boltTx) Silences(fn func(*Silence) error) error {
	return forRecords(t.tx.Bucket(bucketSilences), func() *Silence { return &Silence{} }, fn)
}

func (t *boltTx) PutSilence(v *Silence) error {
	return t.putRecord(bucketSilences, v.ID, v)
}

func (t *boltTx) DeleteSilence(id string) error {
	return t.tx.Bucket(bucketSilences).Delete([]byte(id))
}
