"""HTTP adapters: routes translate wire shapes to service calls and ``TelexError`` to ACS errors."""
