"""Two or more sans-I/O user agents wired to each other through an in-memory network with a
hand-moved clock: what one sends, the other receives, optionally dropped or duplicated."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from telex.sip.events import Event, Outgoing, Peer
from telex.sip.user_agent import UaConfig, UserAgent


@dataclass
class Net:
    now: float = 1000.0
    agents: dict[tuple[str, int], UserAgent] = field(default_factory=dict)
    events: dict[tuple[str, int], list[Event]] = field(default_factory=dict)
    wire: list[tuple[Peer, Peer, bytes]] = field(default_factory=list)  # (from, to, data)
    drop: Callable[[Peer, Peer, bytes], bool] = lambda src, dst, data: False

    def add(self, host: str, port: int, transport: str = "udp", **config: object) -> UserAgent:
        ua = UserAgent(UaConfig(host=host, ports={transport: port}, **config))  # type: ignore[arg-type]
        self.agents[(host, port)] = ua
        self.events[(host, port)] = []
        return ua

    def addr(self, ua: UserAgent) -> tuple[str, int]:
        return next(k for k, v in self.agents.items() if v is ua)

    def peer_of(self, ua: UserAgent, transport: str = "udp") -> Peer:
        host, port = self.addr(ua)
        return Peer(transport, host, port)

    def pump(self, rounds: int = 50) -> None:
        """Deliver everything in flight until the network is quiet."""
        for _ in range(rounds):
            moved = False
            for (host, port), ua in list(self.agents.items()):
                for out in ua.data_to_send():
                    moved = True
                    src = Peer(out.peer.transport, host, port)
                    self.wire.append((src, out.peer, out.data))
                    if self.drop(src, out.peer, out.data):
                        continue
                    target = self.agents.get((out.peer.host, out.peer.port))
                    if target is not None:
                        if out.peer.transport == "udp":
                            target.receive_datagram(out.data, src, self.now)
                        else:
                            target.receive_stream(out.data, src, self.now)
                self.events[(host, port)].extend(ua.events())
            if not moved:
                return
        raise AssertionError("the network never went quiet")

    def advance(self, seconds: float, step: float = 0.05) -> None:
        """Move time, firing every timer on the way."""
        end = self.now + seconds
        while True:
            due = [t for t in (ua.next_timer() for ua in self.agents.values()) if t is not None]
            nxt = min(due, default=end + 1)
            if nxt > end:
                break
            self.now = max(self.now, nxt)
            for ua in self.agents.values():
                t = ua.next_timer()
                if t is not None and t <= self.now:
                    ua.handle_timer(self.now)
            self.pump()
        self.now = end
        self.pump()

    def take(self, ua: UserAgent) -> list[Event]:
        key = self.addr(ua)
        out, self.events[key] = self.events[key], []
        return out

    def sent_by(self, ua: UserAgent) -> list[bytes]:
        host, port = self.addr(ua)
        return [data for src, _, data in self.wire if (src.host, src.port) == (host, port)]


def outgoing_text(outs: list[Outgoing]) -> list[str]:
    return [o.data.decode(errors="replace") for o in outs]
