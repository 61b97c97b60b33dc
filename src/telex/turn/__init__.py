"""STUN/TURN server (RFC 8489 / RFC 8656); see docs/turn.md.

Entry points: ``telex.turn.server.TurnServer`` (asyncio adapter), ``telex.turn.core.TurnCore``
(sans-I/O core), ``telex.turn.relayconfig.issue_relay_configuration`` (ACS relay configuration),
``telex.turn.cli.add_subcommands`` (``telex turn``). Nothing is imported here: ``telex.config``
imports ``telex.turn.settings`` and must stay cheap.
"""

__all__: list[str] = []
