"""Renderers: how each command's progress and result look as text, JSON and GitHub Actions
output. The core never prints; the CLI hands its results to these."""
