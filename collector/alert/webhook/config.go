package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds one HTTP request when the config does not.
const DefaultTimeout = 5 * time.Second

// Config is one entry of the collector's `webhooks:` list (besides `type`
// and `name`, which package alert consumes).
type Config struct {
	// URL receives one POST per event; http or https.
	URL string `koanf:"url"`
	// Secret signs requests per Standard Webhooks: "whsec_" followed by the
	// base64 of 24 to 64 random bytes (the prefix may be left out). Empty
	// sends requests unsigned.
	Secret string `koanf:"secret"`
	// Timeout bounds each request (default 5s).
	Timeout time.Duration `koanf:"timeout"`
	// Headers are added to every request, e.g. an Authorization header.
	// They may not replace the ones the notifier sets itself.
	Headers map[string]string `koanf:"headers"`
}

// reservedHeaders are set by the notifier; a configured header must not
// override them, or signatures would not verify.
var reservedHeaders = []string{
	"Content-Type", "User-Agent", "Content-Length", "Host",
	"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature",
}

// validate checks c and returns the parsed URL and the signing key (nil
// when unsigned). Every problem is reported.
func (c *Config) validate() (*url.URL, []byte, error) {
	var errs []error
	u, err := parseURL(c.URL)
	if err != nil {
		errs = append(errs, err)
	}
	key, err := parseSecret(c.Secret)
	if err != nil {
		errs = append(errs, err)
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s is negative", c.Timeout))
	}
	for name := range c.Headers {
		if !validHeaderName(name) {
			errs = append(errs, fmt.Errorf("header name %q is not a valid HTTP field name", name))
			continue
		}
		for _, r := range reservedHeaders {
			if strings.EqualFold(name, r) {
				errs = append(errs, fmt.Errorf("header %q is set by the notifier and cannot be configured", name))
			}
		}
	}
	for name, v := range c.Headers {
		if strings.ContainsAny(v, "\r\n\x00") {
			errs = append(errs, fmt.Errorf("header %q has a control character in its value", name))
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return u, key, nil
}

func parseURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("url is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error repeats the whole URL, which may hold a secret.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("url does not parse: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("url has no host")
	}
	return u, nil
}

// secretPrefix starts every Standard Webhooks secret.
const secretPrefix = "whsec_"

// parseSecret returns the HMAC key: the bytes the base64 after the prefix
// encodes (the spec's minimum is 24 bytes, its maximum 64).
func parseSecret(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	// The prefix is optional, as in the reference implementations.
	b64 := strings.TrimPrefix(s, secretPrefix)
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		// The error names an offset, never the secret itself.
		return nil, fmt.Errorf("secret is not base64 after %q: %w", secretPrefix, err)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("secret decodes to %d bytes, want 24 to 64", len(key))
	}
	return key, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
