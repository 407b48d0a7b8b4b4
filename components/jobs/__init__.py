"""Tracked jobs: one unit of pipeline work (train, evaluate, record in MLflow), reusing what is
already registered. Plain Python; the flows schedule them."""
