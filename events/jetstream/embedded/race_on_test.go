//go:build race

package embedded

// skipUnderRace skips a test that re-enables JetStream in a running server (Server.Reopen):
// nats-server v2.15.2 writes its JetStream export subscriptions (setJetStreamExportSubs)
// without synchronizing with the API dispatch that read them, and the race detector stops
// the test there. The recovery itself is tested by the e2e full-disk tests, whose hub is
// built without -race, and by this test without -race (.ci/run runs it so before the suite).
func skipUnderRace(t interface{ Skip(...any) }) {
	t.Skip("nats-server re-enables JetStream without synchronizing with its API dispatch (a race in the dependency, flagged by -race); run without -race")
}
