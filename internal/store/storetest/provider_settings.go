package storetest

import (
	"testing"
	"time"

	"github.com/textback/textback/internal/store"
)

func testListProviderSettings(t *testing.T, db *store.DB) {
	ctx := t.Context()
	clock := UseClock(db, start)
	q := db.Q()
	a := Seed(t, db)
	b := Seed(t, db)
	c := Seed(t, db)

	none, err := q.ListProviderSettings(ctx, "smpp")
	must(t, err, "ListProviderSettings")
	if len(none) != 0 {
		t.Errorf("ListProviderSettings on an empty table = %+v", none)
	}
	var last time.Time
	for _, p := range []store.ProviderSettings{
		{WorkspaceID: b.Workspace.ID, Provider: "smpp", Config: `{"host":"b"}`, Secret: `{"password":"b"}`},
		{WorkspaceID: a.Workspace.ID, Provider: "smpp", Config: `{"host":"a"}`, Secret: `{"password":"a"}`},
		{WorkspaceID: a.Workspace.ID, Provider: "smpp", Config: `{"host":"a2"}`, Secret: `{"password":"a2"}`},
		{WorkspaceID: c.Workspace.ID, Provider: "kannel", Config: `{}`, Secret: `{}`},
	} {
		last = clock.Advance(time.Minute)
		must(t, q.PutProviderSettings(ctx, &p), "PutProviderSettings")
	}
	got, err := q.ListProviderSettings(ctx, "smpp")
	must(t, err, "ListProviderSettings")
	if len(got) != 2 {
		t.Fatalf("ListProviderSettings(smpp) = %+v, want workspaces a and b", got)
	}
	byWS := map[string]store.ProviderSettings{got[0].WorkspaceID: got[0], got[1].WorkspaceID: got[1]}
	if byWS[a.Workspace.ID].Config != `{"host":"a2"}` || byWS[a.Workspace.ID].Secret != `{"password":"a2"}` || byWS[b.Workspace.ID].Config != `{"host":"b"}` {
		t.Errorf("ListProviderSettings(smpp) = %+v, want each workspace's latest settings", got)
	}
	if got[0].WorkspaceID > got[1].WorkspaceID {
		t.Errorf("ListProviderSettings is not ordered by workspace id: %s, %s", got[0].WorkspaceID, got[1].WorkspaceID)
	}
	wantInstant(t, "ProviderSettings.UpdatedAt", byWS[a.Workspace.ID].UpdatedAt, last.Add(-time.Minute))
}
