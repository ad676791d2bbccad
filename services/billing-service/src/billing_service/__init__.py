"""billing-service: Bills, payments applied to them, voiding; no payment ever lost."""
