"""Models, in slices: `base/` (the base LLaVA), `lora/` (adapters and their training), `mrlora/`
(experts, the router and two-stage inference), and what they share: prompts, samples, generation,
scoring."""
