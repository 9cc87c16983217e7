"""The daemon's HTTP face: OpenAI-compatible `/v1`, Ollama-native `/api`, Anthropic's
`/v1/messages`, and the editor infill endpoint, all over one internal answer protocol
(`api.answers`)."""
