"""duyet: self-hosted comment moderation for news portals."""

__version__ = "0.1.0"
