"""Scoring: the official per-task scorers, the continual metrics, reports and plots."""
