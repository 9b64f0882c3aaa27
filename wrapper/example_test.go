package wrapper_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/avupload/avupload/gen"
	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/wrapper"
)

// startSandbox runs a local sandbox for the examples; in real code the base
// URL is api.video's (WithSandbox, or the production default).
func startSandbox() (*sandbox.Sandbox, *httptest.Server) {
	sb, err := sandbox.New()
	if err != nil {
		log.Fatal(err)
	}
	return sb, httptest.NewServer(sb)
}

func ExampleNew() {
	// A backend client: the API key, against api.video's sandbox.
	backend, err := wrapper.New(wrapper.WithAPIKey("my-api-key"), wrapper.WithSandbox())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(backend.BaseURL())

	// An uploader's client needs no key: the upload token is its credential.
	uploader, err := wrapper.New(wrapper.WithOriginApp("my-app", "1.2.0"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(uploader.BaseURL())

	// The key is never sent in clear to a host other than this machine.
	_, err = wrapper.New(wrapper.WithAPIKey("my-api-key"), wrapper.WithBaseURL("http://api.example.com"))
	fmt.Println(errors.Is(err, wrapper.ErrInvalidInput))
	// Output:
	// https://sandbox.api.video
	// https://ws.api.video
	// true
}

func ExampleClient_CreateUploadToken() {
	_, srv := startSandbox()
	defer srv.Close()
	client, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithAPIKey(sandbox.DefaultAPIKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	token, err := client.CreateUploadToken(ctx, time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(token.TTL, token.ExpiresAt.Sub(token.CreatedAt), token.NeverExpires())

	forever, err := client.CreateUploadToken(ctx, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(forever.NeverExpires())

	// Revoked tokens are gone; the error says so without quoting the token.
	if err := client.DeleteUploadToken(ctx, token.Token); err != nil {
		log.Fatal(err)
	}
	_, err = client.GetUploadToken(ctx, token.Token)
	fmt.Println(errors.Is(err, wrapper.ErrNotFound))
	fmt.Println(err)

	// TTLs are whole seconds, checked before any request.
	_, err = client.CreateUploadToken(ctx, 1500*time.Millisecond)
	fmt.Println(errors.Is(err, wrapper.ErrInvalidInput))
	// Output:
	// 1h0m0s 1h0m0s false
	// true
	// true
	// avupload: getUploadToken: 404 Not Found: The requested resource was not found.
	// true
}

func ExampleClient_ListUploadTokens() {
	sb, srv := startSandbox()
	defer srv.Close()
	for _, ttl := range []time.Duration{time.Hour, 0, 2 * time.Hour} {
		if _, err := sb.CreateToken(ttl); err != nil {
			log.Fatal(err)
		}
	}
	client, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithAPIKey(sandbox.DefaultAPIKey))
	if err != nil {
		log.Fatal(err)
	}

	page, err := client.ListUploadTokens(context.Background(), wrapper.ListOptions{
		SortBy: wrapper.SortByTTL, SortOrder: wrapper.SortDesc, PageSize: 2,
	})
	if err != nil {
		log.Fatal(err)
	}
	p := page.Pagination
	fmt.Printf("page %d of %d, %d of %d tokens, more: %v\n", p.Page, p.PagesTotal, p.PageItems, p.ItemsTotal, page.HasNext())
	for _, t := range page.Tokens {
		fmt.Println(t.TTL)
	}
	// Output:
	// page 1 of 2, 2 of 3 tokens, more: true
	// 2h0m0s
	// 1h0m0s
}

func ExampleClient_AllUploadTokens() {
	sb, srv := startSandbox()
	defer srv.Close()
	for range 250 {
		if _, err := sb.CreateToken(time.Hour); err != nil {
			log.Fatal(err)
		}
	}
	client, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithAPIKey(sandbox.DefaultAPIKey))
	if err != nil {
		log.Fatal(err)
	}

	// Pages are fetched as the loop reaches them, one request each: three
	// here. Breaking out of the loop early would save the rest.
	var n int
	for t, err := range client.AllUploadTokens(context.Background(), wrapper.ListOptions{PageSize: 100}) {
		if err != nil {
			log.Fatal(err)
		}
		if t.TTL == time.Hour {
			n++
		}
	}
	fmt.Println(n, "tokens")
	// Output:
	// 250 tokens
}

func ExampleClient_Raw() {
	_, srv := startSandbox()
	defer srv.Close()
	client, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithAPIKey(sandbox.DefaultAPIKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// The generated client shares the base URL, the key, the headers and the
	// retries, and reports every answer as a response, even a 404.
	ttl := 60
	created, err := client.Raw().CreateUploadTokenWithResponse(ctx, gen.TokenCreationPayload{TTL: &ttl})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(created.StatusCode(), *created.JSON200.TTL)

	missing, err := client.Raw().GetUploadTokenWithResponse(ctx, "to0000000000000000000000")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(missing.StatusCode(), *missing.JSON404.Name)
	// Output:
	// 200 60
	// 404 uploadToken
}
