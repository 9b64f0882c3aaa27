package temporal

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/avupload/avupload/wrapper"
)

// Minter holds the activities that need the API key: MintToken and
// DeleteTokens. Only the workers that hold the key register it.
type Minter struct {
	// Client calls the API with the API key (wrapper.WithAPIKey).
	Client *wrapper.Client
}

// Register registers the Minter's activities under their names
// (ActivityMintToken, ActivityDeleteTokens).
func (m *Minter) Register(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(m.MintToken, activity.RegisterOptions{Name: ActivityMintToken})
	r.RegisterActivityWithOptions(m.DeleteTokens, activity.RegisterOptions{Name: ActivityDeleteTokens})
}

// MintToken mints an upload token that lives in.TTL.
func (m *Minter) MintToken(ctx context.Context, in MintTokenInput) (*MintedToken, error) {
	if m.Client == nil {
		return nil, temporal.NewNonRetryableApplicationError("the worker's minter has no client", ErrRefused, nil)
	}
	t, err := m.Client.CreateUploadToken(ctx, in.TTL)
	if err != nil {
		if errors.Is(err, wrapper.ErrInvalidInput) || errors.Is(err, wrapper.ErrNoAPIKey) ||
			errors.Is(err, wrapper.ErrUnauthorized) || errors.Is(err, wrapper.ErrForbidden) {
			return nil, temporal.NewNonRetryableApplicationError("minting an upload token: "+err.Error(), ErrRefused, err)
		}
		return nil, fmt.Errorf("minting an upload token: %w", err)
	}
	return &MintedToken{Token: t.Token, ExpiresAt: t.ExpiresAt}, nil
}

// DeleteTokens deletes the tokens; one already gone (expired) is not an
// error. It deletes them all before failing with the first error.
func (m *Minter) DeleteTokens(ctx context.Context, tokens []string) error {
	if m.Client == nil {
		return temporal.NewNonRetryableApplicationError("the worker's minter has no client", ErrRefused, nil)
	}
	var errs []error
	for i, t := range tokens {
		if err := m.Client.DeleteUploadToken(ctx, t); err != nil && !errors.Is(err, wrapper.ErrNotFound) {
			// The error names the operation, never the token: say which
			// one by its place.
			errs = append(errs, fmt.Errorf("deleting minted token %d of %d: %w", i+1, len(tokens), err))
		}
	}
	return errors.Join(errs...)
}
