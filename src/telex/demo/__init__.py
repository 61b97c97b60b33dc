"""The demo's sample "trusted service": signs visitors in and mints their tokens (``serve --demo``)."""
