"""Plain-Python core of the broker: types, rules and ports; no framework or SDK imports."""
