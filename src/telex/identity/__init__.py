"""Identity: access keys and HMAC request signing, users, and user access tokens."""
