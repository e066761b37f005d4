package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries "t=<unix seconds>,v1=<hex of HMAC-SHA256(secret, "<t>.<body>")>".
// Signing the time with the body lets the server refuse an old request outright and remember
// every signature it accepted for as long as it would accept it: a captured request cannot be
// replayed. Several v1 entries may be sent (one per secret, while a secret is rotated).
const SignatureHeader = "X-Attune-Signature"

// SignatureTolerance is how far a signed time may be from the server's clock.
const SignatureTolerance = 5 * time.Minute

// signature is a checked SignatureHeader: its time and the MAC that matched.
type signature struct {
	at  time.Time
	mac string
}

// checkSignature parses header, refuses a time outside the tolerance and compares the MACs in
// constant time, so the answer's timing reveals nothing of the expected one.
func checkSignature(secret string, body []byte, header string, now time.Time) (signature, error) {
	const format = "t=<unix seconds>,v1=<hex of HMAC-SHA256(secret, \"<t>.<body>\")>"
	if header == "" {
		return signature{}, refuse(CodeBadSignature, "this trigger requires a %s header: %s", SignatureHeader, format)
	}
	var (
		ts   string
		macs []string
	)
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok:
			return signature{}, refuse(CodeBadSignature, "%s must be %s", SignatureHeader, format)
		case k == "t":
			ts = v
		case k == "v1":
			macs = append(macs, v)
		}
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if ts == "" || err != nil || len(macs) == 0 {
		return signature{}, refuse(CodeBadSignature, "%s must be %s", SignatureHeader, format)
	}
	at := time.Unix(secs, 0)
	if d := now.Sub(at); d > SignatureTolerance || d < -SignatureTolerance {
		return signature{}, refuse(CodeStaleSignature, "the signed time %s is %s from the server's clock, more than %s: sign each call when it is sent",
			at.UTC().Format(time.RFC3339), d.Round(time.Second).Abs(), SignatureTolerance)
	}
	want := mac(secret, ts, body)
	for _, m := range macs {
		got, err := hex.DecodeString(m)
		if err == nil && hmac.Equal(got, want) {
			return signature{at: at, mac: hex.EncodeToString(want)}, nil
		}
	}
	return signature{}, refuse(CodeBadSignature, "%s does not match the time and the body", SignatureHeader)
}

// Sign returns the SignatureHeader value for body sent at t: what a sender computes.
func Sign(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return fmt.Sprintf("t=%s,v1=%s", ts, hex.EncodeToString(mac(secret, ts, body)))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return m.Sum(nil)
}
