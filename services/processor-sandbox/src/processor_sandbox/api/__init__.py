"""The sandbox's HTTP API (docs/processor-api.md): tokens, the adapter's calls, controls."""
