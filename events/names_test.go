package events

import (
	"errors"
	"testing"
)

// TestProfilesSession: the profile events live under the reserved name _profiles and
// only there; a user cannot give a session that name.
func TestProfilesSession(t *testing.T) {
	for _, tc := range []struct {
		kind    Kind
		session string
		ok      bool
	}{
		{KindLoggedIn, ProfilesSession, true},
		{KindLoggedOut, ProfilesSession, true},
		{KindLoggedIn, "docs", false},
		{KindCreated, ProfilesSession, false},
		{KindServerAsked, ProfilesSession, false},
	} {
		e := New(tc.kind, "n1", tc.session, 1)
		if tc.kind == KindCreated {
			e.Server = &Server{Transport: TransportStdio, Command: "x"}
		}
		if err := e.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s under %s: Validate = %v, want ok %v", tc.kind, tc.session, err, tc.ok)
		}
	}
	if err := ValidateSessionName(ProfilesSession); !errors.Is(err, ErrInvalidName) {
		t.Errorf("ValidateSessionName(%q) = %v, want ErrInvalidName", ProfilesSession, err)
	}
	if err := ValidateSessionName("docs"); err != nil {
		t.Errorf("ValidateSessionName(docs) = %v", err)
	}
}
