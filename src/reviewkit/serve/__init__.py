"""Live review pages: the Voila server (:mod:`.server`), who may reach what and as whom
(:mod:`.access`), and the pages' own code that runs in their kernels (:mod:`.dashboard`)."""
