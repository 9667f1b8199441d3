"""Real migration tools' projects for the end-to-end tests, and matrix.py: their facts."""
