"""The commands behind `synthetics …`, one module each; cli.py parses and maps errors."""
