"""Voice, video and data calls: the state machine (``machine``), storage (``repository``), the
service that authorizes and records every change (``service``) and the realtime payloads
(``payloads``). Media never passes through here: clients connect to each other over WebRTC,
relayed by Telex TURN; this capability carries their signaling. See docs/calling.md."""
