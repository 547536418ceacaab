package storage

// Rules about deleting calls, shared by every CallStore so all of them
// refuse the same deletions and report deleted calls with the same messages.

// CheckDeletable returns an ErrConflict error naming the status unless a call
// in status st may be deleted. Only a call that has ended may be: Twilio is
// still running a live one (queued, ringing, in progress), and its next
// webhook would find no call to carry on with while the caller is talking.
func CheckDeletable(sid string, st CallStatus) error {
	if st.Terminal() {
		return nil
	}
	return Errorf(ErrConflict, "call %s is %s: it can be deleted once it has ended", sid, st)
}

// CallGone returns the ErrGone error of a write about call sid, which was
// deleted.
func CallGone(sid string) error {
	return Errorf(ErrGone, "call %s was deleted", sid)
}
