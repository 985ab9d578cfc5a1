"""Every Redis key name, in one place.

All keys live under one prefix. Keys that one Lua script touches together share a hash tag
(`{p}`: the queue partition), so the same scripts run on Redis Cluster. Keys outside any
partition carry their own tag so each stays a single-slot key.

A submission is one script (service.review.intake.enqueue): it consumes the captcha, sets the
repeat marker and the idempotency record, stores and enqueues the comment, audits and publishes,
so all of those keys share the partition's tag. The partition of a submission is chosen from its
captcha: `partition_of(seal)` (the seal is the captcha id's first part), which is known when the
captcha is issued, so the captcha is stored in that partition from the start; the comment id is
then drawn into the same partition. A retried submission carries the same captcha id, so its
Idempotency-Key is found in the same partition. Bans stay under their own `{bans}` tag (one
place an admin writes; a submission only reads them, before the script: a ban landing between
that read and the write is indistinguishable from one landing a moment later).
Upgrading from names without these tags loses only captchas in flight, repeat markers and (with
more than one partition) Idempotency-Key records, all short-lived; comments, queues, moderators
and bans keep their names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "duyet"
    partitions: int = 1

    # --- queue partitions ---
    def partition_of(self, comment_id: str) -> int:
        # Stable across processes (unlike hash()), so every replica agrees where a comment lives.
        if self.partitions == 1:
            return 0
        return int(hashlib.blake2b(comment_id.encode(), digest_size=4).hexdigest(), 16) % self.partitions

    def tag(self, partition: int) -> str:
        return f"{self.prefix}:{{{partition}}}"

    def comment(self, partition: int, comment_id: str) -> str:
        """Hash: one comment, its scores, state and version."""
        return f"{self.tag(partition)}:c:{comment_id}"

    def pending(self, partition: int) -> str:
        """Sorted set of pending comment ids, by priority."""
        return f"{self.tag(partition)}:pending"

    def claims(self, partition: int) -> str:
        """Sorted set of claimed comment ids, by lease expiry (ms)."""
        return f"{self.tag(partition)}:claims"

    def decisions(self, partition: int) -> str:
        """Stream: append-only audit of every state change."""
        return f"{self.tag(partition)}:decisions"

    def labels(self, partition: int) -> str:
        """Stream: one labelled example per decision (text, label, moderator, model score), no personal data.
        Written by the decide script, never erased by retention."""
        return f"{self.tag(partition)}:labels"

    def idempotency(self, partition: int, client_key: str) -> str:
        """String: the answer given to one Idempotency-Key (kept in the comment's partition)."""
        return f"{self.tag(partition)}:idem:{client_key}"

    def comment_prefix(self, partition: int) -> str:
        """What `comment()` puts before the id: scripts that walk a zset build hash keys from it."""
        return f"{self.tag(partition)}:c:"

    def open(self, partition: int) -> str:
        """Sorted set of undecided (pending or claimed) comment ids, by submission time (ms): 'oldest first'."""
        return f"{self.tag(partition)}:open"

    def decided(self, partition: int, state: str) -> str:
        """Sorted set of 'approved' or 'rejected' comment ids, by decision time (ms)."""
        return f"{self.tag(partition)}:{state}"

    def pii(self, partition: int) -> str:
        """Sorted set of decided comments that still hold personal data, by decision time (ms): retention's to-do."""
        return f"{self.tag(partition)}:pii"

    def pii_open_mark(self, partition: int) -> str:
        """String: the submission time (ms) up to which undecided comments' personal data is erased:
        retention's place in the open zset, so each old pending comment is erased once, not every sweep."""
        return f"{self.tag(partition)}:pii_open_mark"

    def replication_mark(self, partition: int) -> str:
        """String with a TTL: rewritten right before a WAIT on the same connection, so the WAIT covers
        every earlier write to the partition's primary (WAIT only counts its own connection's writes)."""
        return f"{self.tag(partition)}:replication_mark"

    def article_approved(self, partition: int, article_id: str) -> str:
        """Sorted set of one article's approved comment ids, by approval time (ms): the public listing."""
        return f"{self.tag(partition)}:article:{article_id}:approved"

    # --- moderators and bans: one tag each, so MULTI/EXISTS span their keys ---
    def moderators(self) -> str:
        """Hash: moderator name -> JSON account (role, token hash, password hash, created_at)."""
        return f"{self.prefix}:{{mods}}:accounts"

    def moderator_tokens(self) -> str:
        """Hash: sha256 of a token -> moderator name (tokens themselves are never stored)."""
        return f"{self.prefix}:{{mods}}:tokens"

    def ban(self, kind: str, value: str) -> str:
        """String with a TTL: one ban ('client' address or network, or 'phone' hash) -> JSON details."""
        return f"{self.prefix}:{{bans}}:{kind}:{value}"

    def bans_index(self) -> str:
        """Sorted set of ban keys' suffixes ('kind:value'), by expiry (ms): the admin's list."""
        return f"{self.prefix}:{{bans}}:index"

    # --- portals: server-to-server API keys; one tag, like moderators ---
    def portals(self) -> str:
        """Hash: portal name -> JSON account (key sha256, created_at)."""
        return f"{self.prefix}:{{portals}}:accounts"

    def portal_keys(self) -> str:
        """Hash: sha256 of a portal API key -> portal name (keys themselves are never stored)."""
        return f"{self.prefix}:{{portals}}:keys"

    # --- captchas: in the partition their seal falls in, so the submission script consumes them ---
    def captcha(self, seal: str) -> str:
        """Hash with the captcha's TTL: 'h' (HMAC of the answer), 'png', 'wav:<lang>' (rendered on demand)."""
        return f"{self.tag(self.partition_of(seal))}:cap:{seal}"

    def captcha_pool(self, partition: int, variant: str) -> str:
        """List of one partition's pooled captcha seals ('<created unix time>:<seal>', oldest first; each
        captcha already stored under `pooled_captcha(seal)`, a seal of this partition); `variant`
        fingerprints size, length, test code, secret. One list per partition, so a burst of captchas
        spreads over the cluster's shards as the submissions that consume them do."""
        return f"{self.tag(partition)}:cappool:{variant}"

    def pooled_captcha(self, seal: str) -> str:
        """A pre-rendered captcha, as `captcha` holds one, in its seal's partition like `captcha`
        (`Scripts.captcha_pool_take` starts the TTLs of a batch one partition at a time)."""
        return f"{self.tag(self.partition_of(seal))}:pcap:{seal}"

    # --- single-key families ---
    def ratelimit(self, bucket: str, subject: str) -> str:
        return f"{self.prefix}:rl:{{{bucket}:{subject}}}"

    def repeat(self, partition: int, digest: str) -> str:
        """String with TTL: the first comment id of one (client, normalised content) pair in a partition,
        set by the submission script (a submission reads every partition's marker).

        `digest` is a keyed hash of both, so no client address appears in key names."""
        return f"{self.tag(partition)}:repeat:{digest}"

    def form_draft(self, draft_id: str) -> str:
        """String with a TTL of minutes (JSON): what a reader without JavaScript typed into the comment
        form, kept after a failed post so the page can give it back; read once, by an opaque random id
        (the reader's words never go into a URL)."""
        return f"{self.prefix}:{{draft:{draft_id}}}"

    def events_channel(self, partition: int) -> str:
        """Shard channel of one partition's queue changes, for live UIs: under the partition's tag, so
        the scripts changing the partition SPUBLISH on it (service.store.channels says why sharded)."""
        return f"{self.tag(partition)}:events"

    def events_channels(self) -> list[str]:
        """Every partition's events channel: what a live UI subscribes to."""
        return [self.events_channel(p) for p in range(self.partitions)]

    def model_channel(self) -> str:
        """Shard channel announcing a promoted model (or a rollback, a shadow change)."""
        return f"{self.prefix}:{{models}}:channel"

    # --- model registry: one tag, so a promotion is one MULTI ---
    def model_artifact(self, version: str) -> str:
        """String: one model version's skops artifact, base64 (every replica finds it without a shared disk)."""
        return f"{self.prefix}:{{models}}:artifact:{version}"

    def model_cards(self) -> str:
        """Hash: model version -> its card (JSON)."""
        return f"{self.prefix}:{{models}}:cards"

    def model_signatures(self) -> str:
        """Hash: model version -> HMAC of its artifact and card under the service secret
        (service.spam.signing): what makes a version loadable, not just present."""
        return f"{self.prefix}:{{models}}:signatures"

    def model_current(self) -> str:
        """String: the version every replica should score with (absent: the shipped file)."""
        return f"{self.prefix}:{{models}}:current"

    def model_shadow(self) -> str:
        """String: the candidate version scoring beside the current one (shadow mode)."""
        return f"{self.prefix}:{{models}}:shadow"

    def model_history(self) -> str:
        """List: versions that were current before, newest first (what rollback returns to)."""
        return f"{self.prefix}:{{models}}:history"

    def model_audit(self) -> str:
        """Stream: promotions, rollbacks, retraining runs and forced promotions, with who and why."""
        return f"{self.prefix}:{{models}}:audit"

    def labels_seen(self) -> str:
        """String: labelled examples counted at the last retraining (the N-new-labels schedule)."""
        return f"{self.prefix}:{{models}}:labels_seen"

    def retrain_lock(self) -> str:
        """String with a TTL: held by the one replica running a scheduled retraining."""
        return f"{self.prefix}:{{models}}:retrain_lock"

    def session(self, digest: str) -> str:
        """Hash with a TTL: one moderator UI session (moderator, csrf token, created_at).

        `digest` is the sha256 of the cookie value, so a copy of the store logs nobody in."""
        return f"{self.prefix}:session:{{{digest}}}"
