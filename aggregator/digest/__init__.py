"""The weekly-notes digest builder (being assembled: the notes folder first)."""
