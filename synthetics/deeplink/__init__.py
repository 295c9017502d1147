"""Where the confirmation link lands: redirect parsing and validation (browser checks later)."""
