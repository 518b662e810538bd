package store

import "context"

// ListProviderSettings returns every workspace's settings for one provider
// (the SMPP binds a process keeps open), by workspace id.
func (q *Queries) ListProviderSettings(ctx context.Context, provider string) ([]ProviderSettings, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT workspace_id, provider, config, secret, updated_at FROM provider_settings
		WHERE provider = $1 ORDER BY workspace_id`, provider)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ProviderSettings
	for rows.Next() {
		var p ProviderSettings
		if err := rows.Scan(&p.WorkspaceID, &p.Provider, &p.Config, &p.Secret, &p.UpdatedAt); err != nil {
			return nil, err
		}
		p.UpdatedAt = p.UpdatedAt.UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}
