"""HTTP views, split by concern: jobs, control, backends, health, openapi."""
