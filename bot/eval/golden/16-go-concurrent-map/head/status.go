// Package status checks that our services answer.
package status

import (
	"net/http"
	"sync"
)

// Check returns the HTTP status of one URL.
func Check(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

// CheckAll checks every URL at once.
func CheckAll(urls []string) map[string]int {
	results := map[string]int{}
	var wg sync.WaitGroup
	for _, u := range urls {
		wg.Add(1)
		go func(u string) {
			defer wg.Done()
			results[u] = Check(u)
		}(u)
	}
	wg.Wait()
	return results
}
