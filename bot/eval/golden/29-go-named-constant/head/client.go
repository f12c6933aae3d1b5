// Package client talks to the inventory service.
package client

import (
	"net/http"
	"time"
)

// RequestTimeout bounds every call to the inventory service.
const RequestTimeout = 5 * time.Second

// New returns an HTTP client for the inventory service.
func New() *http.Client {
	return &http.Client{Timeout: RequestTimeout}
}
