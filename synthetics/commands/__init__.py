"""The CLI's commands beyond `run` and `sandbox`: each module adds its parser and does the work."""
