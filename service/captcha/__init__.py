"""Captchas: issue and verify (single use), tickets and seals, rendering, voices."""
