"""Schedules (Apify's /v2/schedules): cron expressions that start actor and task runs."""
