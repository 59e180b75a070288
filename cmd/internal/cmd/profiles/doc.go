// Package profiles is `mcpctl profiles`: the OAuth profiles of this home, without a token.
package profiles
