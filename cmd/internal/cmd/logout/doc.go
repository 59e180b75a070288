// Package logout is `mcpctl logout`: it revokes a profile's tokens where the authorization
// server offers revocation, and deletes the profile.
package logout
