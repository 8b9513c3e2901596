"""What people see: Altair charts (:mod:`.charts`), the words and tables of a review
(:mod:`.narrative`), ipywidgets (:mod:`.widgets`), and charts shown and written offline
(:mod:`.render`)."""
