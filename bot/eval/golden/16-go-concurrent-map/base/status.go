// Package status checks that our services answer.
package status

import "net/http"

// Check returns the HTTP status of one URL.
func Check(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	return resp.StatusCode
}
