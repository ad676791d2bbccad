"""Local stack runner, the product demo and the end-to-end harness: tooling, not a service."""
