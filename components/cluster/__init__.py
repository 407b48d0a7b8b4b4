"""Scale-out: where jobs run when one machine is not enough (a Ray cluster), what each job is
given there, and the settings that choose it."""
