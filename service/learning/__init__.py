"""Training and retraining the spam model (never imported by the request path)."""
