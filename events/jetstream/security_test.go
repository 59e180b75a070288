package jetstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
)

// TestDialCluster_RefusalsNameTheirCause dials a cluster that wants creds of its operator
// and mutual TLS with each wrong piece in turn: each is an ErrRefused that names the cause,
// and the right set connects and works.
func TestDialCluster_RefusalsNameTheirCause(t *testing.T) {
	op := jstest.NewOperator(t)
	pki := jstest.NewPKI(t)
	c := jstest.StartSecureCluster(t, jstest.Security{Operator: op, PKI: pki})
	good := op.Creds(t, "good", nil)
	stranger := jstest.NewOperator(t).Creds(t, "stranger", nil)
	ok := jetstream.ClusterOptions{URLs: c.URLs(), CredsFile: good, TLSCA: pki.CA, TLSCert: pki.ClientCert, TLSKey: pki.ClientKey, Replicas: 3}

	t.Run("creds and a client certificate of the cluster connect and append", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		nc, log, _, err := jetstream.ConnectCluster(ctx, ok, false)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := log.Append(ctx, jstest.Created("n", "s"), events.After(0)); err != nil {
			t.Fatalf("append: %v", err)
		}
	})
	for _, tc := range []struct {
		name string
		mod  func(o *jetstream.ClusterOptions)
		want string
	}{
		{"the servers' certificate checked against another CA", func(o *jetstream.ClusterOptions) { o.TLSCA = pki.OtherCA },
			"the NATS server's certificate is not signed by a CA this client trusts (" + pki.OtherCA + ")"},
		{"no CA: the system's roots", func(o *jetstream.ClusterOptions) { o.TLSCA = "" },
			"not signed by a CA this client trusts (the system's roots)"},
		{"an expired client certificate", func(o *jetstream.ClusterOptions) {
			o.TLSCert, o.TLSKey = pki.ExpiredClientCert, pki.ExpiredClientKey
		}, "the client certificate " + pki.ExpiredClientCert + " has expired (not after "},
		{"a client certificate of another CA", func(o *jetstream.ClusterOptions) {
			o.TLSCert, o.TLSKey = pki.OtherClientCert, pki.OtherClientKey
		}, "(" + pki.OtherClientCert + ")"},
		{"no client certificate", func(o *jetstream.ClusterOptions) { o.TLSCert, o.TLSKey = "", "" },
			"(none given)"},
		{"creds of another operator", func(o *jetstream.ClusterOptions) { o.CredsFile = stranger },
			"the NATS cluster refused the credentials (creds file " + stranger + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.mod(&o)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			nc, err := jetstream.DialCluster(ctx, o, false)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, events.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant an ErrRefused saying %q", err, tc.want)
			}
		})
	}
}

func TestClusterOptions_URLWithCredentialsIsRefused(t *testing.T) {
	for _, u := range []string{"nats://alice:s3cret@127.0.0.1:4222", "nats://tok3n@127.0.0.1:4222", "nats://127.0.0.1:4223,tls://bob:pw@h:1"} {
		err := jetstream.ClusterOptions{URLs: jetstream.ParseURLs(u)}.Validate()
		if err == nil || !strings.Contains(err.Error(), "use the creds options") {
			t.Errorf("%s: got %v, want a refusal that says to use the creds options", u, err)
		}
		if err != nil && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "tok3n") || strings.Contains(err.Error(), ":pw")) {
			t.Errorf("%s: the error repeats the secret: %v", u, err)
		}
	}
	if err := (jetstream.ClusterOptions{URLs: []string{"nats://127.0.0.1:4222"}}).Validate(); err != nil {
		t.Errorf("a plain URL: %v", err)
	}
}

// TestConnectCluster_StreamsMadeOtherwiseAreLeftAlone: streams with another replica count or
// retention than mcpctl expects are an ErrStreamMismatch naming the difference, and nothing
// is created or changed on the cluster.
func TestConnectCluster_StreamsMadeOtherwiseAreLeftAlone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connect := func(t *testing.T, s *jstest.Server, replicas int) error {
		t.Helper()
		nc, _, _, err := jetstream.ConnectCluster(ctx, jetstream.ClusterOptions{URLs: []string{s.ClientURL()}, Token: s.Token, Replicas: replicas}, false)
		if err == nil {
			nc.Close()
		}
		return err
	}
	streams := func(t *testing.T, s *jstest.Server) map[string]string {
		t.Helper()
		nc, err := nats.Connect(s.ClientURL(), nats.Token(s.Token))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := njs.New(nc)
		out := map[string]string{}
		for name := range js.StreamNames(ctx).Name() {
			st, err := js.Stream(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(st.CachedInfo().Config)
			out[name] = string(b)
		}
		return out
	}

	t.Run("another replica count", func(t *testing.T) {
		s := jstest.StartServer(t, "tok", false)
		if err := connect(t, s, 1); err != nil { // made with one replica
			t.Fatal(err)
		}
		before := streams(t, s)
		err := connect(t, s, 3)
		if !errors.Is(err, jetstream.ErrStreamMismatch) || !strings.Contains(err.Error(), "MCPCTL_EVENTS has 1 replicas, mcpctl expects 3") {
			t.Fatalf("got %v, want ErrStreamMismatch naming the replica counts", err)
		}
		if after := streams(t, s); !reflect.DeepEqual(after, before) {
			t.Errorf("the streams changed:\nbefore %v\nafter  %v", before, after)
		}
	})
	t.Run("another retention, and nothing created", func(t *testing.T) {
		s := jstest.StartServer(t, "tok", false)
		nc, err := nats.Connect(s.ClientURL(), nats.Token(s.Token))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := njs.New(nc)
		if _, err := js.CreateStream(ctx, njs.StreamConfig{Name: events.EventsStream, Subjects: []string{events.EventsPrefix + ".>"},
			Retention: njs.WorkQueuePolicy, Storage: njs.FileStorage}); err != nil {
			t.Fatal(err)
		}
		before := streams(t, s)
		err = connect(t, s, 1)
		if !errors.Is(err, jetstream.ErrStreamMismatch) || !strings.Contains(err.Error(), "MCPCTL_EVENTS has retention WorkQueue, mcpctl expects limits") {
			t.Fatalf("got %v, want ErrStreamMismatch naming the retention", err)
		}
		if after := streams(t, s); !reflect.DeepEqual(after, before) {
			t.Errorf("the streams changed (nothing may be created):\nbefore %v\nafter  %v", before, after)
		}
	})
}
