"""compute-core wire types: pydantic models with Go JSON output and the core's validation texts."""
