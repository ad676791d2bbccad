"""reconciliation-service: The projection of unlinked payments, the staff API and page, rebuild by replay."""
