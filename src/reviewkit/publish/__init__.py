"""Publishing reviews: executed notebooks turned into self-contained HTML (:mod:`.html`), the
monthly run per team (:mod:`.report`), delivery by email and chat (:mod:`.deliver`), alerts
(:mod:`.alerts`) and the scheduler (:mod:`.schedule`)."""
