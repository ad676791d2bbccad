"""The sandbox payment processor (CONTRACT.md section 3, docs/processor-api.md): port 8005."""
