package broker

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/mqerr"
)

func TestParseEndpoint(t *testing.T) {
	cases := []struct {
		raw                string
		scheme, user, pass string
		hosts              []string
		path               string
	}{
		{"kafka://h1:9092,h2:9093", "kafka", "", "", []string{"h1:9092", "h2:9093"}, ""},
		{"KAFKA://h1", "kafka", "", "", []string{"h1"}, ""},
		{"amqp://ops:p%40ss@rmq:5672/orders", "amqp", "ops", "p@ss", []string{"rmq:5672"}, "orders"},
		{"amqp://rmq/%2f", "amqp", "", "", []string{"rmq"}, "/"},
		{"nats://tok@n1:4222,n2:4222", "nats", "tok", "", []string{"n1:4222", "n2:4222"}, ""},
		{"tls://[::1]:4222", "tls", "", "", []string{"[::1]:4222"}, ""},
		{"amqps://u:a:b@h?heartbeat=5", "amqps", "u", "a:b", []string{"h"}, ""},
		{"amqp://ops:s3cr#e/t?x@rmq:5672/v%40h", "amqp", "ops", "s3cr#e/t?x", []string{"rmq:5672"}, "v@h"},
	}
	for _, tc := range cases {
		ep, err := ParseEndpoint(tc.raw)
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if ep.Scheme != tc.scheme || ep.Username != tc.user || ep.Password != tc.pass ||
			strings.Join(ep.Hosts, ",") != strings.Join(tc.hosts, ",") || ep.Path != tc.path {
			t.Errorf("%s: got %+v", tc.raw, ep)
		}
	}
}

func TestParseEndpointErrorsHideThePassword(t *testing.T) {
	for _, raw := range []string{
		"kafka://u:hunter22@h:99999",
		"kafka://u:hunter22@h:x1",
		"kafka://u:hunter22@h1,,h2",
		"kafka://u:hunter22@",
		"localhost:9092",
		"amqp://u:hunter22@[::1/vh",
		"amqp://u:hun#ter22@h:x",
		"amqp://u:hun/ter22@h:99999/",
		"u:hunter22@h:5672",     // scheme forgotten
		"amqp:/u:hunter22@h/",   // one slash
		"amqp//u:hunter22@h/",   // no colon
		"amqp:u:hunter22@h/vh",  // no slashes
		"u:hunter22@h1,h2@h3:1", // an @ after the password
		"amqp://u:hunter22",     // the host left out: u:hunter22 reads as host u, port hunter22
		"amqp://u:hunter22/vh",
		"kafka://k1:9092,u:hunter22",
		"nats://u:hunter22?x=1",
	} {
		_, err := ParseEndpoint(raw)
		if err == nil {
			t.Errorf("%s: no error", raw)
			continue
		}
		if mqerr.KindOf(err) != mqerr.Usage {
			t.Errorf("%s: kind %v, want Usage", raw, mqerr.KindOf(err))
		}
		if strings.Contains(err.Error(), "hunter22") || strings.Contains(err.Error(), "ter22") {
			t.Errorf("%s: password in error %q", raw, err)
		}
	}
	// The host left out, and a password that splits where a URL splits,
	// or reads as a port out of range: no part of it is quoted.
	for _, tc := range []struct{ raw, secret, shown string }{
		{"amqp://ops:123456", "123456", `"amqp://ops:xxxxx"`},
		{"amqp://ops:70000/vh", "70000", `"amqp://ops:xxxxx"`},
		{"amqp://ops:hun:ter:22", "ter", `"amqp://ops:xxxxx"`},
		{"amqp://ops:hun,ter22", "ter22", `"amqp://ops:xxxxx"`},
		{"amqp://ops:hun/ter22", "ter22", `"amqp://ops:xxxxx"`},
		{"amqp://ops:hun?ter22", "ter22", `"amqp://ops:xxxxx"`},
		{`amqp://ops:hu\n:1`, "hu", `"amqp://ops:xxxxx"`},
		{"kafka://k1:9092,ops:hun:ter22,k3", "ter22", `"kafka://k1:9092,ops:xxxxx"`},
		{"nats://[::1]:hun:ter22", "ter22", `"nats://[::1]:xxxxx"`},
	} {
		_, err := ParseEndpoint(tc.raw)
		if err == nil {
			t.Errorf("%s: no error", tc.raw)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, tc.secret) || !strings.Contains(msg, tc.shown) {
			t.Errorf("%s: error %q, want it to show %s and not %q", tc.raw, msg, tc.shown, tc.secret)
		}
	}
}

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"amqp://u:secret@h:5672/v":     "amqp://u:xxxxx@h:5672/v",
		"amqp://u@h/v":                 "amqp://u@h/v",
		"kafka://h1,h2":                "kafka://h1,h2",
		"nats://a:b@c@h":               "nats://a:xxxxx@h",
		"not a url":                    "not a url",
		"amqp://u:s@h/path@with-at":    "amqp://u:xxxxx@with-at", // an unescaped @ in a path over-masks, never under-masks
		"amqp://ops:s3cr#et@rmq:5672/": "amqp://ops:xxxxx@rmq:5672/",
		"amqp://ops:a/b?c@rmq/vh":      "amqp://ops:xxxxx@rmq/vh",
		"amqp://h:5672/vh":             "amqp://h:5672/vh",
		"ops:secret@h:5672":            "xxxxx@h:5672", // scheme forgotten
		"amqp:/ops:secret@h/":          "xxxxx@h/",
		"mail ops@h":                   "mail ops@h",
		"nats://h:4222?token=t0k&x=1":  "nats://h:4222?token=xxxxx&x=1",
		"amqp://u:s@h/?password=s":     "amqp://u:xxxxx@h/?password=xxxxx",
	}
	for in, want := range cases {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWithoutPassword(t *testing.T) {
	cases := map[string]struct {
		want  string
		token bool
	}{
		"amqp://u:secret@h:5672/v":    {"amqp://u@h:5672/v", false},
		"amqp://u@h/v":                {"amqp://u@h/v", false},
		"amqp://ops:a/b?c@rmq/vh":     {"amqp://ops@rmq/vh", false},
		"nats://tok-1@h:4222":         {"nats://h:4222", true},
		"nats://a:b@h":                {"nats://a@h", false},
		"kafka://h1,h2":               {"kafka://h1,h2", false},
		"amqps://u:p%40ss@h:5671/%2f": {"amqps://u@h:5671/%2f", false},
	}
	for in, c := range cases {
		got, token := WithoutPassword(in)
		if got != c.want || token != c.token {
			t.Errorf("WithoutPassword(%q) = %q, %v; want %q, %v", in, got, token, c.want, c.token)
		}
	}
}

// ScrubString masks a secret by structure whatever its value, and by value
// only where its text is distinctive: a password that is a plain word
// ("guest") is masked in URLs, parameters and headers, never in names.
func TestScrubString(t *testing.T) {
	cases := []struct {
		name, text, secret, want string
	}{
		{"distinctive token in free text", "token Tk-9f3Qz81 refused", "Tk-9f3Qz81", "token xxxxx refused"},
		{"URL password, no secret known", `dial "amqp://ops:pa55word@h:1/": refused`, "", `dial "amqp://ops:xxxxx@h:1/": refused`},
		{"NATS URL token", "nats://tok-456@h down", "", "nats://xxxxx@h down"},
		{"word password: names intact, URL masked",
			`context "rmq-guest" is read-only: produce refused; connecting to amqp://guest:guest@guest-host:5672/guest as guest; queue "guest"`, "guest",
			`context "rmq-guest" is read-only: produce refused; connecting to amqp://guest:xxxxx@guest-host:5672/guest as guest; queue "guest"`},
		{"word password in base64 is distinctive", "auth Z3Vlc3Q= sent for guest", "guest", "auth xxxxx sent for guest"},
		{"percent-encoded URL", "GET /x?next=amqp%3A%2F%2Fops%3Aguest%40h%2Fvh&x=1 failed", "guest", "GET /x?next=amqp%3A%2F%2Fxxxxx%40h%2Fvh&x=1 failed"},
		{"percent-encoded URL, lower case, at the end", "next=nats%3a%2f%2fguest%40h", "guest", "next=nats%3a%2f%2fxxxxx%40h"},
		// An invalid byte before it must not shift where the mask goes.
		{"percent-encoded URL after an invalid byte", "\xff\xfe next=amqp%3A%2F%2Fops%3Aguest%40h", "guest", "\xff\xfe next=amqp%3A%2F%2Fxxxxx%40h"},
		{"credential parameters",
			"GET /api?user=ops&password=guest&mq_token=t1#f, x pass%3Dguest API-KEY=k1 db_pass=p", "guest",
			"GET /api?user=ops&password=xxxxx&mq_token=xxxxx x pass%3Dxxxxx API-KEY=xxxxx db_pass=xxxxx"},
		{"credential in JSON", `body {"user":"ops","Password" : "gu\"est","n":1}`, "",
			`body {"user":"ops","Password" : "xxxxx","n":1}`},
		{"Authorization header", "request had Authorization: Basic b3BzOmd1ZXN0 and", "", "request had Authorization: Basic xxxxx and"},
		{"quoted parameter values", `x password="gu est" y api_key='k 1' z`, "",
			`x password="xxxxx" y api_key='xxxxx' z`},
		{"unclosed quote", `password="guest and more`, "", `password=xxxxx and more`},
		{"& in a value ends it only before another parameter",
			"auth password=ab&cd failed; GET /q?password=ab&cd&user=ops&token=t&x y", "",
			"auth password=xxxxx failed; GET /q?password=xxxxx&user=ops&token=xxxxx y"},
		{"# in a value", "password=p#ss token=ab#c&d=1", "", "password=xxxxx token=xxxxx&d=1"},
		{"YAML block mapping", "url: amqp://h\npassword: my secret # old\n  db_pass: 'x y'\n- token: \"t\\\"1\"\nuser: ops", "",
			"url: amqp://h\npassword: xxxxx\n  db_pass: 'xxxxx'\n- token: \"xxxxx\"\nuser: ops"},
		{"YAML in a message", "bad line {user: ops, password: guest} and secret:  s3 here", "",
			"bad line {user: ops, password: xxxxx and secret:  xxxxx here"},
		{"JSON keys as for parameters", `{"pass": "guest", "db_pass":"x", "x-api-key": "k", "x_api_key": "k"}`, "",
			`{"pass": "xxxxx", "db_pass":"xxxxx", "x-api-key": "xxxxx", "x_api_key": "xxxxx"}`},
		{"names like credentials stay", "tokens=5 passed=3 max_tokens=9 token_count=2 bypass=1 PWD=/home/ops bypass: 1 tokens: 2 compass=n", "",
			"tokens=5 passed=3 max_tokens=9 token_count=2 bypass=1 PWD=/home/ops bypass: 1 tokens: 2 compass=n"},
	}
	for _, c := range cases {
		var secrets []string
		if c.secret != "" {
			secrets = []string{c.secret}
		}
		if got := ScrubString(c.text, secrets...); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

// A secret's text is distinctive when it cannot be part of a name or a word.
func TestDistinctive(t *testing.T) {
	for text, want := range map[string]bool{
		"guest": false, "admin": false, "rabbit": false, "password": false, "changeme": false,
		"secret123": false, "rabbitmq-staging": false, "tok-123": false, "a@b!": false,
		"Password1": true, "p@ss/w#rd": true, "Pw3/s#cr?et@9+x%Q": true, "Z3Vlc3Q=": true,
		"pässwort": true, "3f2a9c0e7b1d4a6f8e2c5b7d9a1e3f50": true, "rabbitmq-staging-cluster": true,
	} {
		if got := distinctive(text); got != want {
			t.Errorf("distinctive(%q) = %v, want %v", text, got, want)
		}
	}
}

// Any text and secret: no panic, and a distinctive secret never survives.
func FuzzScrubString(f *testing.F) {
	f.Add("dial amqp://u:Pw3/s#cr?et@h: refused", "Pw3/s#cr?et")
	f.Add("next=amqp%3A%2F%2Fu%3Ap%40h%40", "guest")
	f.Add("password=&token=%3d", "a")
	f.Fuzz(func(t *testing.T, text, secret string) {
		got := ScrubString(text, secret)
		// A mask could only meet a secret holding its letter.
		if distinctive(secret) && !strings.Contains(secret, "x") && strings.Contains(got, secret) {
			t.Errorf("ScrubString(%q, %q) = %q keeps the secret", text, secret, got)
		}
	})
}

// Any input: no panic, and a password given in the URL never shows in the error.
func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"kafka://h:1", "amqp://u:p@h/v", "nats://a,b", "x://[::1]:99", "amqp://u:p@h:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ep, err := ParseEndpoint(raw)
		if err != nil {
			full, perr := parseLoose(raw)
			// The password text may also stand elsewhere in the URL (a host
			// "0000" and a password "0000"); only its own copy must go.
			elsewhere := strings.Count(raw, full) > 1 || strings.Contains(fmt.Sprintf("%q:", redactForError(raw)), full)
			if perr == nil && len(full) >= 4 && !elsewhere && strings.Contains(err.Error(), full) {
				t.Errorf("password %q in error %q", full, err)
			}
			return
		}
		if len(ep.Hosts) == 0 {
			t.Errorf("%q parsed with no hosts", raw)
		}
		if ep.Password != "" && len(ep.Password) >= 4 && strings.Contains(RedactURL(raw), ep.Password) && !strings.Contains(strings.Replace(raw, ep.Password, "", 1), ep.Password) {
			t.Errorf("RedactURL(%q) keeps the password", raw)
		}
	})
}

// parseLoose extracts the raw password text between the first ':' after
// "://" and the last '@' before the path.
func parseLoose(raw string) (string, error) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return "", errNoPass
	}
	rest := raw[i+3:]
	if e := strings.IndexAny(rest, "/?#"); e >= 0 {
		rest = rest[:e]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return "", errNoPass
	}
	_, pass, ok := strings.Cut(rest[:at], ":")
	if !ok {
		return "", errNoPass
	}
	return pass, nil
}

var errNoPass = mqerr.Usagef("no password")

// Empty ports, port 0, empty users and empty passwords are refused on
// every scheme: none of them is what the user meant, and an empty AMQP
// login would fall back to guest.
func TestParseEndpointRefusesEmptyParts(t *testing.T) {
	for _, scheme := range []string{"kafka", "amqp", "amqps", "nats", "tls", "http"} {
		for rest, mention := range map[string]string{
			"h:":          "empty port in h:",
			"[::1]:":      "empty port in [::1]:",
			"u:p@h:0":     "port 0 out of range",
			"u:p@h:00":    "port 00 out of range",
			"u:p@h:65536": "port 65536 out of range",
			// Without a user, what follows the ':' is not quoted: it may
			// be a password whose @host was left out.
			"h:0":         "\"" + scheme + "://h:xxxxx\": what follows h: is not a port from 1 to 65535",
			"h:65536":     "\"" + scheme + "://h:xxxxx\": what follows h: is not a port from 1 to 65535",
			"@h":          "empty user name",
			":@h":         "empty user name",
			":hunter22@h": "empty user name",
			"u:@h":        "empty password",
		} {
			raw := scheme + "://" + rest
			_, err := ParseEndpoint(raw)
			if mqerr.KindOf(err) != mqerr.Usage || err == nil || !strings.Contains(err.Error(), mention) {
				t.Errorf("%s: %v, want a usage error saying %q", raw, err, mention)
				continue
			}
			if strings.Contains(err.Error(), "hunter22") {
				t.Errorf("%s: password in %q", raw, err)
			}
		}
	}
	for _, ok := range []string{"kafka://h:1", "kafka://h:65535", "amqp://u@h/", "nats://tok@h", "amqp://u:p@h:5672/", "kafka://[::1]:9092,h2:9093"} {
		if _, err := ParseEndpoint(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestEndpointCredentials(t *testing.T) {
	for raw, want := range map[string][3]string{
		"amqp://u:p@h/":   {"u", "p", ""},
		"amqp://u@h/":     {"u", "", ""},
		"nats://tok@h":    {"", "", "tok"},
		"tls://tok@h":     {"", "", "tok"},
		"nats://u:p@h":    {"u", "p", ""},
		"kafka://h:9092":  {"", "", ""},
		"kafka://u@h:909": {"u", "", ""},
	} {
		ep, err := ParseEndpoint(raw)
		if err != nil {
			t.Fatal(err)
		}
		if u, p, tok := ep.Credentials(); [3]string{u, p, tok} != want {
			t.Errorf("%s: got %q %q %q, want %q", raw, u, p, tok, want)
		}
	}
}

// Secrets lists the management URL's password too, so errors and logs are
// scrubbed of it.
func TestTargetSecrets(t *testing.T) {
	tg := Target{URL: "amqp://u:url-pw@h/", Password: "field-pw", Token: "tok-1", ManagementURL: "http://m:mgmt-pw@h:15672"}
	got := strings.Join(tg.Secrets(), ",")
	for _, want := range []string{"url-pw", "field-pw", "tok-1", "mgmt-pw"} {
		if !strings.Contains(got, want) {
			t.Errorf("Secrets() = %q lacks %q", got, want)
		}
	}
	if got := (Target{URL: "nats://tok-2@h"}).Secrets(); len(got) != 1 || got[0] != "tok-2" {
		t.Errorf("a NATS URL token: Secrets() = %q", got)
	}
}

// ScrubString masks a secret in the forms it travels in.
func TestScrubStringForms(t *testing.T) {
	const pw = "p@ss/w#rd"
	for _, text := range []string{
		"x " + pw + " y",
		"x p%40ss%2Fw%23rd y",
		"x cEBzcy93I3Jk y",
	} {
		if got := ScrubString(text, pw); got != "x xxxxx y" {
			t.Errorf("ScrubString(%q) = %q", text, got)
		}
	}
}

// A management API URL is http(s) with a host; a bad one is refused
// without repeating its password.
func TestCheckHTTPURL(t *testing.T) {
	for _, ok := range []string{"http://h:15672", "https://ops:hunter22@h:15671/", "http://[::1]:15672/rabbitmq", "HTTP://h"} {
		if err := CheckHTTPURL("--management-url", ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"h:15672", "ftp://h", "http://", "http://:15672", "http:///path", "amqp://u:hunter22@h:5672",
		"http://u:hunter22@h:x1", "http://u:hun/ter22@h:15672", "http://u:hun#ter22@h", "https//u:hunter22@h",
		"u:hunter22@h:15672", "http://u:hunter22@[::1", "http://u:hunter22@h:15672\x7f", "http://u:hunter22@",
	} {
		err := CheckHTTPURL("--management-url", bad)
		switch {
		case err == nil:
			t.Errorf("%q: no error", bad)
		case mqerr.KindOf(err) != mqerr.Usage || !strings.HasPrefix(err.Error(), "--management-url "):
			t.Errorf("%q: %v (kind %v): want a usage error naming the flag", bad, err, mqerr.KindOf(err))
		case strings.Contains(err.Error(), "ter22"):
			t.Errorf("%q: password in error %q", bad, err)
		}
	}
}
