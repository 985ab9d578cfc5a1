"""The HTTP edge: the app factory, middlewares, views, OpenAPI, CORS, sessions, UI."""
