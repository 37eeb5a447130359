"""KPI service: participation-rate and other KPI projections of the platform's event streams."""
