// Placeholder: the config loader is being written.
