"""The synthetic checks, written as pytest tests and run by `synthetics run`."""
