"""Who has a live realtime connection on any node (push goes only to users who have none).

    this node's hub ──► LocalPresence           one node: the hub knows every socket
                   └──► RedisPresence           several nodes: each node publishes its users to
                                                Redis (a sorted set per user, node → expiry, the key
                                                itself expiring) every refresh; a lookup asks Redis
                                                about the other nodes and the hub about this one

Chosen in the composition root, like the bus. Presence is loss-tolerant: a Redis that is away
makes users of other nodes look offline (they get a push they did not need), never the reverse.
"""

from telex.presence.base import ConnectionDirectory, Presence
from telex.presence.local import LocalPresence

__all__ = ["ConnectionDirectory", "LocalPresence", "Presence", "open_presence"]


def open_presence(url: str, hub: ConnectionDirectory, refresh_seconds: float) -> Presence:
    """Redis presence when ``url`` names Redis (the bus's URL), else this node's hub alone."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from telex.presence.redis import RedisPresence

        return RedisPresence(url, hub, refresh_seconds)
    return LocalPresence(hub)
