package broker

import (
	"net/url"
	"strings"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// Endpoint is a broker URL taken apart. Unlike net/url it accepts several
// comma-separated hosts (kafka://h1:9092,h2:9092), and its errors never
// repeat the password.
type Endpoint struct {
	Scheme   string
	Username string
	Password string
	HasUser  bool
	// HasPassword is set when the user info holds a ":" (user:password@).
	HasPassword bool
	Hosts       []string // host:port, port filled in by the driver when missing
	Path        string   // unescaped, without the leading "/" (the AMQP vhost)
	HasPath     bool
	Query       url.Values
}

// ParseEndpoint parses a broker URL. Errors are mqerr.Usage and quote only
// the redacted URL.
func ParseEndpoint(raw string) (*Endpoint, error) {
	red := redactForError(raw)
	i := strings.Index(raw, "://")
	if i <= 0 {
		return nil, mqerr.Usagef("malformed URL %q: want scheme://host[:port]", red)
	}
	if strings.ContainsAny(raw, " \t\n\"'") {
		return nil, mqerr.Usagef("malformed URL %q: spaces and quotes must be escaped (%%20, %%22, %%27)", red)
	}
	ep := &Endpoint{Scheme: strings.ToLower(raw[:i])}
	rest := raw[i+3:]
	// User info runs to the last "@": a password may hold "/", "?" or "#"
	// unescaped, and cutting at those first would put part of it in the
	// host, where an error message would quote it. An "@" in the path or
	// query must be escaped as %40.
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		user, pass, hasPass := strings.Cut(rest[:at], ":")
		var err error
		if ep.Username, err = url.PathUnescape(user); err != nil {
			return nil, mqerr.Usagef("malformed URL %q: bad user escape", red)
		}
		if hasPass {
			if ep.Password, err = url.PathUnescape(pass); err != nil {
				return nil, mqerr.Usagef("malformed URL %q: bad password escape", red)
			}
		}
		// An empty user or password would either log in as nobody or
		// (AMQP) fall back to guest: neither is what was written.
		if ep.Username == "" {
			return nil, mqerr.Usagef("malformed URL %q: empty user name before @ (leave out the @ to log in with the context's or the default credentials)", red)
		}
		if hasPass && ep.Password == "" {
			return nil, mqerr.Usagef("malformed URL %q: empty password after the user's ':' (leave out the ':' to take the password from the context or MQCTL_PASSWORD)", red)
		}
		ep.HasUser, ep.HasPassword = true, hasPass
		rest = rest[at+1:]
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		vals, err := url.ParseQuery(rest[q+1:])
		if err != nil {
			return nil, mqerr.Usagef("malformed URL %q: bad query", red)
		}
		ep.Query = vals
		rest = rest[:q]
	}
	if h := strings.IndexByte(rest, '#'); h >= 0 {
		rest = rest[:h]
	}
	if s := strings.IndexByte(rest, '/'); s >= 0 {
		p, err := url.PathUnescape(rest[s+1:])
		if err != nil {
			return nil, mqerr.Usagef("malformed URL %q: bad path escape", red)
		}
		ep.Path, ep.HasPath = p, true
		rest = rest[:s]
	}
	if rest == "" {
		return nil, mqerr.Usagef("malformed URL %q: no host", red)
	}
	hosts := strings.Split(rest, ",")
	for j, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, mqerr.Usagef("malformed URL %q: empty host in list", red)
		}
		if err := checkHostPort(h); err != "" {
			if name := hostName(h); !ep.HasUser && name != "" && len(h) > len(name)+1 && h[len(name)] == ':' {
				// "amqp://ops:pw" with the host left out reads as host
				// ops, port pw: whatever follows the host's first ':' may
				// be a password (pa:ss, pa,ss, pa/ss and 123456 too), so
				// none of it is quoted, nor the path and the hosts after.
				red = raw[:i+3] + strings.Join(append(hosts[:j:j], name), ",") + ":xxxxx"
				return nil, mqerr.Usagef("malformed URL %q: what follows %s: is not a port from 1 to 65535 (a user and password go before @host)", red, name)
			}
			return nil, mqerr.Usagef("malformed URL %q: %s", red, err)
		}
		ep.Hosts = append(ep.Hosts, h)
	}
	return ep, nil
}

// hostName is h up to its port: "[::1]" of "[::1]:x", and "ops" of
// "ops:pa:ss" (the first ':', where a password left without its @host
// would start).
func hostName(h string) string {
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end >= 0 {
			return h[:end+1]
		}
	}
	name, _, _ := strings.Cut(h, ":")
	return name
}

func checkHostPort(h string) string {
	host, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "unclosed [ in host " + h
		}
		host, port = h[:end+1], strings.TrimPrefix(h[end+1:], ":")
	} else if c := strings.LastIndexByte(h, ':'); c >= 0 {
		host, port = h[:c], h[c+1:]
	}
	if host == "" {
		return "empty host in " + h
	}
	// A ':' left in a host not in brackets (ops:pa:ss) is no IPv6
	// address: refused here, not at the first dial.
	if strings.ContainsAny(host, " \t/\\") || !strings.HasPrefix(host, "[") && strings.ContainsRune(host, ':') {
		return "invalid host " + h
	}
	if port == "" {
		if strings.HasSuffix(h, ":") {
			return "empty port in " + h + " (leave out the ':' for the default port)"
		}
		return ""
	}
	n := 0
	for _, r := range port {
		if r < '0' || r > '9' {
			return "invalid port in " + h
		}
		n = n*10 + int(r-'0')
		if n > 65535 {
			return "port " + port + " out of range (1-65535) in " + h
		}
	}
	if n == 0 {
		return "port " + port + " out of range (1-65535) in " + h
	}
	return ""
}

// Credentials are the login the URL's user info holds: user and password,
// or for a scheme that reads a lone user as a token (nats://TOKEN@host),
// the token.
func (ep *Endpoint) Credentials() (user, pass, token string) {
	if ep.HasUser && !ep.HasPassword && userIsToken(ep.Scheme) {
		return "", "", ep.Username
	}
	return ep.Username, ep.Password, ""
}

// HostsWithPort returns the hosts with def appended where no port was given.
func (ep *Endpoint) HostsWithPort(def string) []string {
	out := make([]string, len(ep.Hosts))
	for i, h := range ep.Hosts {
		if hasPort(h) {
			out[i] = h
		} else {
			out[i] = h + ":" + def
		}
	}
	return out
}

func hasPort(h string) bool {
	if strings.HasPrefix(h, "[") {
		return strings.Contains(h, "]:")
	}
	return strings.Contains(h, ":")
}

// RedactURL replaces the password in a URL (or in any text that looks like
// scheme://user:pass@host) with "xxxxx"; in one word without "://" it masks
// everything before the last "@". It never fails: text that does not
// parse is redacted by pattern. Like ParseEndpoint it takes the user info to
// run to the last "@" of the URL, so a password holding "/", "?" or "#"
// is still masked; an unescaped "@" in a path may mask more than needed,
// never less. The values of credential parameters in its query
// (?token=…, ?password=…) are masked too.
func RedactURL(raw string) string {
	return redactCredentialParams(redactUserInfo(raw))
}

// redactUserInfo is RedactURL without the query's parameters.
func redactUserInfo(raw string) string {
	u, ok := findUserInfo(raw, " \t\n\"'")
	switch {
	case !ok && !strings.Contains(raw, "://") && !strings.ContainsAny(raw, " \t\n"):
		// A URL with its scheme mistyped ("ops:pw@h", a hand-edited
		// config file): the user info cannot be told from the scheme.
		return redactForError(raw)
	case !ok:
		return raw
	case u.hasPass:
		return raw[:u.start] + u.user + ":xxxxx" + raw[u.at:]
	case u.token:
		return raw[:u.start] + "xxxxx" + raw[u.at:]
	}
	return raw
}

// WithoutPassword is raw with its password (or NATS token) left out and
// the user name kept, for a command line printed to be run again: the
// password then comes from MQCTL_PASSWORD or the context. hadToken says a
// token was dropped, which only the URL can carry back.
func WithoutPassword(raw string) (out string, hadToken bool) {
	u, ok := findUserInfo(raw, "")
	switch {
	case !ok:
		return raw, false
	case u.hasPass:
		return raw[:u.start] + u.user + raw[u.at:], false
	case u.token:
		return raw[:u.start] + raw[u.at+1:], true
	}
	return raw, false
}

// userInfo locates the user info of a URL-like text: raw[start:at] is
// "user[:password]", raw[at] the "@" before the host.
type userInfo struct {
	start, at int
	user      string
	hasPass   bool
	// token is a user alone where the scheme takes it for a token (NATS).
	token bool
}

// findUserInfo finds the user info up to the last "@" before any of stop
// (a password may hold "/", "?" or "#" unescaped; stopping earlier would
// leave part of it in); ok is false when there is none.
func findUserInfo(raw, stop string) (u userInfo, ok bool) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return u, false
	}
	rest := raw[i+3:]
	end := strings.IndexAny(rest, stop)
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return u, false
	}
	u.start, u.at = i+3, i+3+at
	u.user, _, u.hasPass = strings.Cut(rest[:at], ":")
	u.token = !u.hasPass && userIsToken(raw[:i])
	return u, true
}

// CheckHTTPURL refuses raw unless it is an http or https URL with a host,
// as a management API's URL must be; what names it in the error. The error
// quotes raw with all its user info masked, and never url.Parse's text,
// which repeats the password.
func CheckHTTPURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return mqerr.Usagef("%s %q: want http(s)://host[:port][/path]", what, redactForError(raw))
	}
	return nil
}

// redactForError masks all user info of a URL that may not even parse: the
// whole text between "://" and the last "@", whatever it holds. Without
// "://" (a scheme forgotten or mistyped: "ops:pw@h", "amqp:/ops:pw@h")
// everything before the last "@" is masked, scheme included, since where
// the user info starts cannot be told.
func redactForError(raw string) string {
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + 3
	}
	at := strings.LastIndexByte(raw[start:], '@')
	if at < 0 {
		return raw
	}
	return raw[:start] + "xxxxx" + raw[start+at:]
}

// userIsToken says whether a URL user without a password is a secret
// token, as NATS reads nats://TOKEN@host.
func userIsToken(scheme string) bool {
	s := strings.ToLower(scheme)
	if j := strings.LastIndexAny(s, " \t\n\"'"); j >= 0 {
		s = s[j+1:]
	}
	return s == "nats" || s == "tls"
}
