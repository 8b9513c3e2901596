"""Evidence: the review model (outcomes and outputs, :mod:`.review`), how much delivered work is
aligned with an outcome (:mod:`.alignment`), and whether the linked KPI moved (:mod:`.impact`,
with the counterfactual estimator in :mod:`.estimator`)."""
