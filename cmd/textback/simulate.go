package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/textback/textback/internal/ids"
	"github.com/textback/textback/internal/providers/generic"
)

// simulation plays a PBX: it posts a signed call event to the generic
// webhook of the workspace the API key belongs to, exactly as a carrier would.
type simulation struct {
	BaseURL, APIKey, From, To, Status, Detail, CallID string
}

func (sc *simulation) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(sc.BaseURL, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+sc.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, v)
}

func (sc *simulation) run(ctx context.Context) (string, error) {
	var hooks struct {
		Generic struct {
			CallEventsURL string `json:"call_events_url"`
			SigningSecret string `json:"signing_secret"`
		} `json:"generic"`
	}
	if err := sc.get(ctx, "/api/v1/webhooks", &hooks); err != nil {
		return "", fmt.Errorf("error reading the webhook settings (an admin key is needed): %w", err)
	}
	if sc.To == "" {
		var sites struct {
			Sites []struct{ ID string } `json:"sites"`
		}
		if err := sc.get(ctx, "/api/v1/sites", &sites); err != nil {
			return "", err
		}
		for _, s := range sites.Sites {
			var tns struct {
				TrackingNumbers []struct{ Number string } `json:"tracking_numbers"`
			}
			if err := sc.get(ctx, "/api/v1/sites/"+s.ID+"/tracking-numbers", &tns); err != nil {
				return "", err
			}
			if len(tns.TrackingNumbers) > 0 {
				sc.To = tns.TrackingNumbers[0].Number
				break
			}
		}
		if sc.To == "" {
			return "", fmt.Errorf("the workspace has no tracking number: add one first, or pass --to")
		}
	}
	if sc.CallID == "" {
		sc.CallID = "sim-" + ids.Random(8)
	}
	body, _ := json.Marshal(generic.Event{EventID: ids.New("evt"), CallID: sc.CallID, From: sc.From, To: sc.To,
		Status: sc.Status, Detail: sc.Detail, OccurredAt: time.Now().UTC().Format(time.RFC3339Nano)})
	// Post to the path of the webhook URL on the address we reach textback at.
	u, err := url.Parse(hooks.Generic.CallEventsURL)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(sc.BaseURL, "/")+u.Path, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(generic.SignatureHeader, generic.Sign(hooks.Generic.SigningSecret, time.Now(), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("the webhook answered %s: %s", resp.Status, bytes.TrimSpace(answer))
	}
	return fmt.Sprintf("call %s from %s to %s (%s): %s", sc.CallID, sc.From, sc.To, sc.Status, bytes.TrimSpace(answer)), nil
}
