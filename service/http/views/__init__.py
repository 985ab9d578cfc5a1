"""HTTP handlers, one module per area. Each exposes `routes` (a RouteTableDef)."""
