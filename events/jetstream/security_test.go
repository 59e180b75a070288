package jetstream_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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
