package toll_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/waitroom/waitroom/gateway/toll"
)

// A client that is not a browser pays the toll itself: the gateway's 429
// answer carries the challenge; the client solves it and asks again with
// the solution in the Waitroom-Toll header.
func ExampleSolve() {
	booth, _ := toll.NewBooth([]byte(strings.Repeat("k", 32)))
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := r.Header.Get("Waitroom-Toll"); s != "" {
			if _, _, err := booth.Verify(s, "concert-42", "app-7", time.Now()); err == nil {
				fmt.Fprint(w, `{"state":"queued","position":1}`)
				return
			}
		}
		c, _ := booth.Issue("concert-42", "app-7", 0.02, time.Now())
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(map[string]any{"state": "toll", "challenge": c})
	}))
	defer gateway.Close()

	// The client.
	res, _ := http.Get(gateway.URL + "/_waitroom/api/status?room=concert-42")
	var answer struct {
		State     string         `json:"state"`
		Challenge toll.Challenge `json:"challenge"`
	}
	_ = json.NewDecoder(res.Body).Decode(&answer)
	res.Body.Close()
	fmt.Println(res.StatusCode, answer.State)

	solution, _ := toll.Solve(answer.Challenge)
	req, _ := http.NewRequest("GET", gateway.URL+"/_waitroom/api/status?room=concert-42", nil)
	req.Header.Set("Waitroom-Toll", solution.Encode())
	res, _ = http.DefaultClient.Do(req)
	var placed struct {
		State    string `json:"state"`
		Position int    `json:"position"`
	}
	_ = json.NewDecoder(res.Body).Decode(&placed)
	res.Body.Close()
	fmt.Println(res.StatusCode, placed.State, placed.Position)
	// Output:
	// 429 toll
	// 200 queued 1
}
