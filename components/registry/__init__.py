"""MLflow: tracking helpers, and (later) the bundle model, gates and promotion."""
