"""Serving the routed bundle: limits on untrusted requests, image decoding, a queue that runs
one model on one worker, and the HTTP app."""
