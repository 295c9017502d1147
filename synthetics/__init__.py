"""Synthetic monitoring for Supabase-backed apps, with a sandbox that rehearses every fault."""

__version__ = "0.1.0"
