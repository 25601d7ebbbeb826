"""The lowest layer: plain helpers every app may use (errors, number parsing). Imports nothing of ours."""
