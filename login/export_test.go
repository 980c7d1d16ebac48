package login

// HashCompares is how many bcrypt comparisons this process made.
func HashCompares() int64 { return hashCompares.Load() }

// HoldHashing takes every bcrypt slot and fills the queue's count, as a
// flood of logins would; release gives them back.
func (s *Server) HoldHashing() (release func()) {
	for range cap(s.hashes.slots) {
		s.hashes.slots <- struct{}{}
	}
	s.hashes.waiting.Add(s.hashes.queue)
	return func() {
		s.hashes.waiting.Add(-s.hashes.queue)
		for range cap(s.hashes.slots) {
			<-s.hashes.slots
		}
	}
}
