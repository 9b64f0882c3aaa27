package wrapper_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/wrapper"
)

// A backend mounts a TokenHandler: it decides who may upload (here, a
// made-up session header), and the handler mints, limits and cleans up the
// tokens. A page then asks for one with fetch and spreads the answer into
// the official browser uploader's options:
//
//	const res = await fetch("https://backend.example.com/upload-token", {method: "POST", credentials: "include"});
//	const grant = await res.json();  // {uploadToken, apiHost, uploadUrl, expiresAt}
//	const video = await new VideoUploader({ file, ...grant }).upload();
func ExampleTokenHandler() {
	_, api := startSandbox() // in real code: api.video, wrapper.WithSandbox() or the production default
	defer api.Close()
	client, err := wrapper.New(wrapper.WithAPIKey(sandbox.DefaultAPIKey), wrapper.WithBaseURL(api.URL))
	if err != nil {
		log.Fatal(err)
	}

	tokens, err := wrapper.NewTokenHandler(client, wrapper.TokenHandlerOptions{
		// Your own authentication: a session cookie, a JWT... The
		// principal names whom the per-user limits count for.
		Authorize: func(r *http.Request) (string, error) {
			user, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Session ")
			if !ok || user == "" {
				return "", wrapper.ErrUnauthorized // answered 401
			}
			return user, nil
		},
		TTL:            5 * time.Minute, // 10 minutes by default
		MaxAlive:       2,               // tokens alive at once, per user
		AllowedOrigins: []string{"https://app.example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/upload-token", tokens)
	backend := httptest.NewServer(mux)
	defer backend.Close()

	askAs := func(session string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, backend.URL+"/upload-token", nil)
		if session != "" {
			req.Header.Set("Authorization", "Session "+session)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		return resp
	}

	resp := askAs("alice")
	var grant wrapper.TokenGrant
	if err := json.NewDecoder(resp.Body).Decode(&grant); err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, grant.UploadToken != "", grant.APIHost == strings.TrimPrefix(api.URL, "http://"))

	resp = askAs("") // not signed in
	resp.Body.Close()
	fmt.Println(resp.StatusCode)

	resp = askAs("alice")
	resp.Body.Close()
	resp = askAs("alice") // a third token alive at once
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After") != "")

	// At shutdown, after the HTTP server has stopped: every token handed out is deleted.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tokens.Close(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = client.GetUploadToken(ctx, grant.UploadToken)
	fmt.Println(errors.Is(err, wrapper.ErrNotFound))
	// Output:
	// 200 true true
	// 401
	// 429 true
	// true
}
