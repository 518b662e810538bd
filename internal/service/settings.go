package service

import (
	"context"
	"errors"
	"strings"

	"github.com/textback/textback/internal/ids"
	"github.com/textback/textback/internal/store"
)

// RegenerateWebhookCredentials gives the workspace a new signing secret and
// bearer token for the generic call-event webhook. The old ones stop working
// at once: the PBX must be given the new ones.
func (s *Service) RegenerateWebhookCredentials(ctx context.Context, workspaceID string) (secret, token string, err error) {
	secret, token = "whsec_"+ids.Random(24), "whtok_"+ids.Random(24)
	if err := s.DB.Q().SetWebhookCredentials(ctx, workspaceID, secret, token); err != nil {
		return "", "", err
	}
	return secret, token, nil
}

// UpdateTwilioSettings stores the workspace's Twilio account from a form
// where the auth token is write-only: an empty token keeps the stored one.
func (s *Service) UpdateTwilioSettings(ctx context.Context, workspaceID, accountSID, authToken string) error {
	ts := TwilioSettings{AccountSID: strings.TrimSpace(accountSID), AuthToken: strings.TrimSpace(authToken)}
	if ts.AuthToken == "" {
		cur, err := s.TwilioSettings(ctx, workspaceID)
		if errors.Is(err, store.ErrNotFound) {
			return invalid("auth_token", "Give the auth token from the Twilio console.")
		}
		if err != nil {
			return err
		}
		ts.AuthToken = cur.AuthToken
	}
	return s.SetTwilioSettings(ctx, workspaceID, ts)
}
