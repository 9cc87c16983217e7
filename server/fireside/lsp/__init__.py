"""The language server, `fireside lsp`: inline completions for editors, computed by
the daemon's models. `server.py` is where a session starts."""
