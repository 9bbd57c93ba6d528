"""Webhooks on the API side: the events that fire them (written with the transition that fires them),
their payload templates, the address guard for their targets, and their JSON shapes."""
