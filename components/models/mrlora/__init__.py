"""MR-LoRA's models: per-task experts, the router (its pool and prompt, replay data, letter
decoding) and two-stage inference."""
