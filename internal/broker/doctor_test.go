package broker

import "testing"

// The user field shows the user name even when it is the password, while
// the password is scrubbed everywhere else in the detail, in each form it
// travels in.
func TestScrubbedDetail(t *testing.T) {
	tests := []struct {
		name    string
		d       Diagnosis
		secrets []string
		want    string
	}{
		{"user is the password",
			Diagnosis{Detail: "user " + UserMark + " accepted; guest said guest (Z3Vlc3Q=) at amqp://guest:guest@h/", User: "guest"},
			[]string{"guest"},
			`user "guest" accepted; xxxxx said xxxxx (xxxxx) at amqp://xxxxx:xxxxx@h/`},
		{"password inside the mark's own text",
			Diagnosis{Detail: "user " + UserMark + " accepted", User: "user"},
			[]string{"user"},
			`xxxxx "user" accepted`},
		{"other user",
			Diagnosis{Detail: "SASL PLAIN login for user " + UserMark + " accepted, not s3cret-pw", User: "alice"},
			[]string{"s3cret-pw"},
			`SASL PLAIN login for user "alice" accepted, not xxxxx`},
		{"no mark",
			Diagnosis{Detail: "guest denied", User: "guest"},
			[]string{"guest"},
			"xxxxx denied"},
		{"quoted", Diagnosis{Detail: "user " + UserMark, User: "a\"b"}, nil, `user "a\"b"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.d.ScrubbedDetail(tc.secrets...); got != tc.want {
				t.Errorf("ScrubbedDetail = %q, want %q", got, tc.want)
			}
		})
	}
}
