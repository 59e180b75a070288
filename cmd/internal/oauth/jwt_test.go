package oauth

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
)

func verifyES256(jwt string, pub *ecdsa.PublicKey) bool {
	i := strings.LastIndex(jwt, ".")
	sig, err := base64.RawURLEncoding.DecodeString(jwt[i+1:])
	if err != nil || len(sig) != 64 {
		return false
	}
	h := sha256.Sum256([]byte(jwt[:i]))
	return ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}
