"""Shared runtime of the paylinks services: written once, used by all four."""
