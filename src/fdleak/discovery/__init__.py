"""Which processes to look at: identity (pid + start time), trees, and worker roles."""
