"""The .env templates per environment (dev / stg / prod, no secrets), installed as cutover.env_templates."""
