"""Chat (ACS Chat-compatible): threads, messages, participants, receipts, typing."""
