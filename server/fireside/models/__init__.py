"""Named models: the models.toml registry and where each model's weights come from."""
