"""The review queue: its state machine, moderators, bans, retention, events, undo, portals."""
