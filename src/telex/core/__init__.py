"""Shared pieces every capability uses: clock, errors, ids, config."""
