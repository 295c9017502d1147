"""Security probing: discovery of what the anon role can reach, pure probe verdicts, catalog
advice, and the patterns error messages must not show."""
