"""What people see: Altair charts (:mod:`.charts`, a module per chart family), the words and
tables of a review (:mod:`.narrative`), ipywidgets (:mod:`.widgets`), charts shown and written
offline (:mod:`.render`), and the KPIs of a period as text, CSV or JSON (:mod:`.kpis`, in
plain-text tables: :mod:`.text`)."""
