"""The tiny base's pretraining mixture: a generic visual world (objects, text, charts, panels)
and questions about it, holding none of the benchmark tasks' content."""
