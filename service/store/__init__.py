"""Redis: every key and Lua script, connections, the embedded Valkey server, rate limits."""
