"""Shared runtime of every service: settings, logging and the pika bus."""
