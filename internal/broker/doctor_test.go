package broker

import "testing"

// The user field shows the user name even when it is the password, while
// a distinctive password is scrubbed everywhere else in the detail, in
// each form it travels in; a password that is a plain word stays where it
// is a word (only URLs and other structures mask it, see ScrubString).
func TestScrubbedDetail(t *testing.T) {
	tests := []struct {
		name    string
		d       Diagnosis
		secrets []string
		want    string
	}{
		{"user is the password",
			Diagnosis{Detail: "user " + UserMark + " accepted; Ops-2024x said Ops-2024x (T3BzLTIwMjR4) at amqp://Ops-2024x:Ops-2024x@h/", User: "Ops-2024x"},
			[]string{"Ops-2024x"},
			`user "Ops-2024x" accepted; xxxxx said xxxxx (xxxxx) at amqp://xxxxx:xxxxx@h/`},
		{"user is the password, a word",
			Diagnosis{Detail: "user " + UserMark + " accepted; guest said guest (Z3Vlc3Q=) at amqp://guest:guest@h/", User: "guest"},
			[]string{"guest"},
			`user "guest" accepted; guest said guest (xxxxx) at amqp://guest:xxxxx@h/`},
		{"password reaching into the mark's own text",
			Diagnosis{Detail: "ops" + UserMark + "ok", User: "u"},
			[]string{"ops\x00user"},
			`ops"u"ok`},
		{"other user",
			Diagnosis{Detail: "SASL PLAIN login for user " + UserMark + " accepted, not S3cret-pw", User: "alice"},
			[]string{"S3cret-pw"},
			`SASL PLAIN login for user "alice" accepted, not xxxxx`},
		{"no mark, a word", Diagnosis{Detail: "guest denied", User: "guest"}, []string{"guest"}, "guest denied"},
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
