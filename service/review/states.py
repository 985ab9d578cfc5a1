"""The review queue's vocabulary: a comment's states, a moderator's actions and reasons, the
events a transition records, and the two ways a transition can be refused.

Kept apart from the transitions themselves so readers, labels, events and the UI can name a
state without pulling in the state machine.
"""

from __future__ import annotations

from enum import StrEnum

from service import errors


class State(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    APPROVED = "approved"
    REJECTED = "rejected"


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class RejectReason(StrEnum):
    """Why a comment was rejected; these become the training labels' sub-classes."""

    SPAM = "spam"
    ADVERTISING = "advertising"
    ABUSIVE = "abusive"
    HATE_SPEECH = "hate_speech"
    HARASSMENT = "harassment"
    OFF_TOPIC = "off_topic"
    MISINFORMATION = "misinformation"
    ILLEGAL = "illegal"
    PERSONAL_INFO = "personal_info"
    DUPLICATE = "duplicate"
    OTHER = "other"


class Event(StrEnum):
    """Kinds of entries in the decision stream (and of pub/sub events)."""

    SUBMITTED = "submitted"
    CLAIMED = "claimed"
    RELEASED = "released"
    LEASE_EXPIRED = "lease_expired"
    DECIDED = "decided"
    REOPENED = "reopened"


class CommentNotFound(errors.NotFound):
    code = "comment_not_found"


class QueueConflict(errors.Conflict):
    """A stale version, someone else's claim, or a comment no longer in a state that allows it."""
