"""Candidate catalogs: the column schema, writers, known-lens cross-match and galleries."""
