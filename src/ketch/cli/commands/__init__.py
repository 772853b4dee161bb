"""One module per family of verbs; each exposes `Command` objects that app.py loads lazily."""
