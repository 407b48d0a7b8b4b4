"""The embedded benchmark: small, deterministic look-alikes of the MLLM-CL tasks in its layout."""
