// Package client talks to the inventory service.
package client

import (
	"net/http"
	"time"
)

// New returns an HTTP client for the inventory service.
func New() *http.Client {
	return &http.Client{Timeout: 5 * time.Second}
}
