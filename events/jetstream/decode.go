package jetstream

import (
	"encoding/json"
	"strconv"

	"github.com/mcpctl/mcpctl/events"
)

// decodeFast decodes the payloads this build writes without reflection, and hands anything
// else (escapes, non-ASCII, nulls, unknown or differently cased keys, malformed JSON) to
// events.Unmarshal. It accepts only input on which both agree, so the result never differs;
// replay is dominated by decoding, and this makes it several times cheaper.
func decodeFast(data []byte) (events.Event, error) {
	var e events.Event
	if fastObject(data, &e) {
		return e, nil
	}
	return events.Unmarshal(data)
}

// scanner walks JSON bytes; ok turns false at the first thing the fast path does not handle.
type scanner struct {
	b  []byte
	i  int
	ok bool
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) byte(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (s *scanner) str() string {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		s.ok = false
		return ""
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		c := s.b[j]
		if c == '"' {
			s.i = j + 1
			return string(s.b[start:j])
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
	}
	s.ok = false
	return ""
}

// uint reads a non-negative integer that fits in 64 bits.
func (s *scanner) uint() uint64 {
	s.ws()
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	digits := s.b[start:s.i]
	if len(digits) == 0 || (len(digits) > 1 && digits[0] == '0') {
		s.ok = false
		return 0
	}
	// A fraction or exponent is for encoding/json to judge.
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.ok = false
		return 0
	}
	n, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil {
		s.ok = false
	}
	return n
}

func (s *scanner) int() int {
	s.ws()
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	n := s.uint()
	if n > uint64(maxInt) {
		s.ok = false
		return 0
	}
	if neg {
		return -int(n)
	}
	return int(n)
}

const maxInt = int(^uint(0) >> 1)

// rawValue steps over one JSON value of any kind and returns its bytes.
func (s *scanner) rawValue() []byte {
	s.ws()
	start := s.i
	depth := 0
	inStr := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		s.i++
		if inStr {
			switch c {
			case '\\':
				s.i++
			case '"':
				inStr = false
				if depth == 0 {
					return s.b[start:s.i]
				}
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return s.b[start:s.i]
			}
			if depth < 0 {
				s.ok = false
				return nil
			}
		case ',', ' ', '\t', '\n', '\r', ':':
			if depth == 0 {
				s.i--
				return s.b[start:s.i]
			}
		}
	}
	if depth != 0 || inStr {
		s.ok = false
		return nil
	}
	return s.b[start:s.i]
}

// object reads {"key": value, …}, calling field for each key; an empty object is fine.
func (s *scanner) object(field func(key string)) {
	if !s.byte('{') {
		s.ok = false
		return
	}
	if s.byte('}') {
		return
	}
	for s.ok {
		key := s.str()
		if !s.ok || !s.byte(':') {
			s.ok = false
			return
		}
		field(key)
		if !s.ok {
			return
		}
		if s.byte(',') {
			continue
		}
		if !s.byte('}') {
			s.ok = false
		}
		return
	}
}

func fastObject(data []byte, e *events.Event) bool {
	s := &scanner{b: data, ok: true}
	s.object(func(key string) {
		switch key {
		case "v":
			e.V = s.int()
		case "type":
			e.Type = events.Kind(s.str())
		case "node":
			e.Node = s.str()
		case "session":
			e.Session = s.str()
		case "generation":
			e.Generation = s.uint()
		case "time":
			raw := s.str()
			if s.ok && e.Time.UnmarshalText([]byte(raw)) != nil {
				s.ok = false
			}
		case "actor":
			// Into the existing value: a repeated key merges, as in encoding/json.
			a := &e.Actor
			s.object(func(key string) {
				switch key {
				case "pid":
					a.PID = s.int()
				case "host":
					a.Host = s.str()
				case "user":
					a.User = s.str()
				case "command":
					a.Command = s.str()
				default:
					s.ok = false
				}
			})
		case "seq":
			e.Seq = s.uint()
		case "server":
			// Rare (created only) and nested: let encoding/json have it.
			raw := s.rawValue()
			if !s.ok || len(raw) == 0 || raw[0] != '{' || e.Server != nil {
				s.ok = false
				return
			}
			var srv events.Server
			if json.Unmarshal(raw, &srv) != nil {
				s.ok = false
				return
			}
			e.Server = &srv
		case "restart":
			e.Restart = events.RestartPolicy(s.str())
		case "reason":
			e.Reason = s.str()
		case "pid":
			e.PID = s.int()
		case "pid_start_time":
			e.PIDStartTime = s.uint()
		case "socket":
			e.Socket = s.str()
		case "code":
			c := s.int()
			e.Code = &c
		case "signal":
			e.Signal = s.str()
		case "server_name":
			e.ServerName = s.str()
		case "server_version":
			e.ServerVersion = s.str()
		case "protocol_version":
			e.ProtocolVersion = s.str()
		case "mcp_session_id":
			e.MCPSessionID = s.str()
		case "error":
			e.Error = s.str()
		default:
			s.ok = false
		}
	})
	s.ws()
	// A field added to events.Event later has a key the switch does not know: such events
	// go to encoding/json until the fast path learns it.
	return s.ok && s.i == len(s.b)
}
