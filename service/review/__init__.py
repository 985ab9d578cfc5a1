"""The review queue (states, intake, transitions, reading, queue_stats), the accounts that use it
(moderators, portals), bans, retention, events, undo."""
