"""MLflow: tracking helpers, registered models, the bundle model, gates and promotion."""
