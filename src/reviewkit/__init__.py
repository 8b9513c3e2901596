"""reviewkit: turn KPI exports into monthly reviews about outcomes, not outputs."""

__all__: list[str] = []
