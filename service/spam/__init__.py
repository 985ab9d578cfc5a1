"""Spam scoring while serving: the model artifact, features, scoring, the registry it reads, hot reload."""
