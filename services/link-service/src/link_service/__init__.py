"""link-service: Bank-account and bill payment links, QR codes, the client pay page and payment intake."""
