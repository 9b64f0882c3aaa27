package sandbox

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/avupload/avupload/gen"
)

// Operation names of the two authentication routes, as the operationIds of
// openapi.yaml.
const (
	OpAuthenticate = "authenticate"
	OpRefreshToken = "refreshToken"
)

// AccessTokenTTL is how long an access token from POST /auth/api-key or
// POST /auth/refresh is valid: the expires_in of their answers.
const AccessTokenTTL = time.Hour

// typeInvalidRefreshToken is the problem type of a refresh token that is
// unknown or already used.
const typeInvalidRefreshToken = typeBase + "authentication-invalid-refresh-token"

// bearerTokens holds the access and refresh tokens the auth routes issued.
// The zero value is ready to use; it is safe for concurrent use.
type bearerTokens struct {
	mu      sync.Mutex
	access  map[string]time.Time // access token -> expiry
	refresh map[string]struct{}  // refresh tokens not yet used
}

// issue mints a new access token valid until now+AccessTokenTTL and a new
// refresh token. It forgets the access tokens that expired.
func (b *bearerTokens) issue(now time.Time) gen.AccessToken {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.access == nil {
		b.access = map[string]time.Time{}
		b.refresh = map[string]struct{}{}
	}
	for t, exp := range b.access {
		if !now.Before(exp) {
			delete(b.access, t)
		}
	}
	at := gen.AccessToken{
		AccessToken:  randomID("", 64),
		TokenType:    gen.AccessTokenTokenTypeBearer,
		RefreshToken: randomID("", 64),
		ExpiresIn:    int(AccessTokenTTL / time.Second),
	}
	b.access[at.AccessToken] = now.Add(AccessTokenTTL)
	b.refresh[at.RefreshToken] = struct{}{}
	return at
}

// valid reports whether token is an access token that has not expired at now.
func (b *bearerTokens) valid(token string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	exp, ok := b.access[token]
	return ok && now.Before(exp)
}

// redeem spends a refresh token; it reports whether it was live.
func (b *bearerTokens) redeem(token string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.refresh[token]
	delete(b.refresh, token)
	return ok
}

// checkBearer checks an access token sent as "Authorization: Bearer TOKEN".
func (s *Sandbox) checkBearer(token string) (problem, bool) {
	if token != "" && s.bearer.valid(token, s.cfg.now()) {
		return problem{}, true
	}
	return problem{Type: typeInvalidAuthHeader, Title: `The "Authorization" header value is invalid.`,
		Detail: "the access token is invalid or expired; get a new one from POST /auth/refresh or POST /auth/api-key"}, false
}

// Authenticate implements POST /auth/api-key.
func (a *api) Authenticate(_ context.Context, req gen.AuthenticateRequestObject) (gen.AuthenticateResponseObject, error) {
	if req.Body == nil || req.Body.APIKey == "" {
		return gen.Authenticate400JSONResponse{BadRequestJSONResponse: gen.BadRequestJSONResponse{
			Body: requiredAttribute("apiKey", `{"apiKey":"YOUR_API_KEY"}`).p.badRequestBody(),
		}}, nil
	}
	if !slices.Contains(a.s.cfg.apiKeys, req.Body.APIKey) {
		p := problem{Type: typeInvalidAPIKey, Title: "The API key is invalid.", Name: "apiKey"}
		return gen.Authenticate401JSONResponse{UnauthorizedJSONResponse: gen.UnauthorizedJSONResponse{
			Body: p.wire(http.StatusUnauthorized),
		}}, nil
	}
	return gen.Authenticate200JSONResponse{Body: a.s.bearer.issue(a.s.cfg.now())}, nil
}

// RefreshToken implements POST /auth/refresh. A refresh token works once.
func (a *api) RefreshToken(_ context.Context, req gen.RefreshTokenRequestObject) (gen.RefreshTokenResponseObject, error) {
	if req.Body == nil || req.Body.RefreshToken == "" {
		return gen.RefreshToken400JSONResponse{BadRequestJSONResponse: gen.BadRequestJSONResponse{
			Body: requiredAttribute("refreshToken", `{"refreshToken":"REFRESH_TOKEN"}`).p.badRequestBody(),
		}}, nil
	}
	if !a.s.bearer.redeem(req.Body.RefreshToken) {
		p := problem{Type: typeInvalidRefreshToken, Title: "The refresh token is invalid or expired.", Name: "refreshToken",
			Detail: "a refresh token works once; get a new pair from POST /auth/api-key"}
		return gen.RefreshToken401JSONResponse{UnauthorizedJSONResponse: gen.UnauthorizedJSONResponse{
			Body: p.wire(http.StatusUnauthorized),
		}}, nil
	}
	return gen.RefreshToken200JSONResponse{Body: a.s.bearer.issue(a.s.cfg.now())}, nil
}

// requiredAttribute is the 400 problem of a body that lacks a required
// attribute; example shows a valid body.
func requiredAttribute(name, example string) *apiError {
	return badRequest(typeInvalidAttribute, `The "`+name+`" attribute is required.`, name,
		"the request body must be a JSON object such as "+example)
}
